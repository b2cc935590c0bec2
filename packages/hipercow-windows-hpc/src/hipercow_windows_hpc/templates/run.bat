@ECHO OFF
CHCP 65001 > NUL
SETLOCAL DisableDelayedExpansion
REM hipercow task {{task_id}}
REM The two lines above come before any path: cmd.exe reads a batch file in
REM the console's code page, so it is switched to UTF-8 (the encoding of this
REM file) first, and delayed expansion is off so an exclamation mark in a path
REM is an ordinary character. Every path below is in double quotes, where
REM spaces, ampersands, carets and brackets are literal, with percent signs
REM doubled (see batch.py).
REM Written by hipercow-windows-hpc {{version}} on {{host}} at {{date}}.
REM A Windows node of the HPC Pack cluster runs this file through the web portal.
REM It maps every share the project needs to its drive letter, runs the task
REM from the project directory, removes the mappings again, and exits with the
REM runner's status: 0 exactly when the task recorded success (so the portal's
REM state agrees with hipercow's).
ECHO hipercow: task {{task_id}} on %COMPUTERNAME% at %DATE% %TIME%
{{map_shares}}
SET HIPERCOW_CORES=%CCP_NUMCPUS%
SET HIPERCOW_PYTHON_VERSION={{python_version}}
SET HIPERCOW_EXIT=1
CD /D "{{project}}"
IF ERRORLEVEL 1 (
  ECHO hipercow: cannot change to the project directory "{{project}}"
  GOTO finish
)
{{runner}} --root "{{project}}" {{task_id}}
SET HIPERCOW_EXIT=%ERRORLEVEL%
ECHO hipercow: the runner exited with code %HIPERCOW_EXIT% at %DATE% %TIME%
:finish
CD /D %SystemDrive%\
{{unmap_shares}}
IF "%HIPERCOW_EXIT%"=="0" EXIT /B 0
ECHO hipercow: task {{task_id}} did not succeed (runner exit code %HIPERCOW_EXIT%)
EXIT /B 1
