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
SET HIPERCOW_EXIT=1
REM No parenthesised blocks below: a ")" in an echoed path would end one.
REM Each mapping lasts for this job only (/PERSISTENT:NO) and is checked.
{{map_shares}}
SET HIPERCOW_CORES=1
IF DEFINED CCP_NUMCPUS SET HIPERCOW_CORES=%CCP_NUMCPUS%
SET HIPERCOW_PYTHON_VERSION={{python_version}}
REM Python as python.org installs it (per user or for all users) and uv's
REM tools, for this version, come first on PATH.
SET "PATH=%LOCALAPPDATA%\Programs\Python\Python{{python_tag}};%LOCALAPPDATA%\Programs\Python\Python{{python_tag}}\Scripts;%ProgramFiles%\Python{{python_tag}};%ProgramFiles%\Python{{python_tag}}\Scripts;%USERPROFILE%\.local\bin;%PATH%"
CD /D "{{project}}"
IF NOT ERRORLEVEL 1 GOTO setup
ECHO hipercow: cannot change to the project directory "{{project}}"
GOTO finish
:setup
REM The project's own setup hook (modules, PATH, licences), if it has one.
IF NOT EXIST "{{setup}}" GOTO run
CALL "{{setup}}"
IF NOT ERRORLEVEL 1 GOTO run
ECHO hipercow: the setup hook "{{setup}}" failed
GOTO finish
:run
REM The runner starts in the project and is given it as ".": CALL expands
REM percent signs a second time and doubles quoted carets, and a quoted path
REM ending in a backslash (a drive root) would escape its closing quote.
CALL {{runner}} --root . {{task_id}}
SET HIPERCOW_EXIT=%ERRORLEVEL%
ECHO hipercow: the runner exited with code %HIPERCOW_EXIT% at %DATE% %TIME%
GOTO finish
:nomap
ECHO hipercow: could not map a network drive (NET USE says why above)
:finish
CD /D %SystemDrive%\
{{unmap_shares}}
IF "%HIPERCOW_EXIT%"=="0" EXIT /B 0
ECHO hipercow: task {{task_id}} did not succeed (runner exit code %HIPERCOW_EXIT%)
EXIT /B 1
