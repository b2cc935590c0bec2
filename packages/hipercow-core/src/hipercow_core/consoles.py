"""Whether a terminal draws ANSI colour codes: always on POSIX, on Windows only once asked.

A Windows console shows `\\x1b[32m` as text unless virtual-terminal processing
is switched on for it (Windows 10 and later can; older consoles cannot), so
colour is used there only when switching it on worked.
"""

from __future__ import annotations

from typing import Any

from hipercow_core.processes import IS_WINDOWS

#: SetConsoleMode's flag that makes a console interpret ANSI escape sequences.
ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004


def ansi_console(stream: Any) -> bool:
    """Whether ANSI codes written to `stream` (a terminal) are drawn, not shown."""
    if not IS_WINDOWS:
        return True
    return _enable_virtual_terminal(stream)


def _enable_virtual_terminal(stream: Any) -> bool:
    import ctypes
    import msvcrt

    try:
        handle = msvcrt.get_osfhandle(stream.fileno())  # type: ignore[attr-defined,unused-ignore]
    except (OSError, ValueError, AttributeError):
        return False
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    mode = ctypes.c_uint32()
    if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
        return False
    if mode.value & ENABLE_VIRTUAL_TERMINAL_PROCESSING:
        return True
    return bool(kernel32.SetConsoleMode(handle, mode.value | ENABLE_VIRTUAL_TERMINAL_PROCESSING))
