"""A real SFTP server for the mailbox tests: asyncssh on loopback, one user, one folder.

Run as ``python sftp_server.py ROOT USER PASSWORD``; prints ``port N`` once it listens and
serves until killed. Every path a client names is inside ROOT (asyncssh's chroot).
"""

from __future__ import annotations

import asyncio
import sys

import asyncssh


class _Server(asyncssh.SSHServer):
    def __init__(self, user: str, password: str) -> None:
        self._user = user
        self._password = password

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return username == self._user and password == self._password


async def _main(root: str, user: str, password: str) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.listen(
        "127.0.0.1",
        0,
        server_host_keys=[key],
        server_factory=lambda: _Server(user, password),
        sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=root.encode()),
        allow_scp=False,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    await server.wait_closed()


if __name__ == "__main__":
    asyncio.run(_main(*sys.argv[1:4]))
