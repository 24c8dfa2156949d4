"""Carrying a session between two parties: authenticated, encrypted, and bounded in time.

Without an authenticated, encrypted channel an eavesdropper who sees both directions learns the
overlap (equal keys give equal returned digests), and an impostor learns it too. So:

* :mod:`.pairing`: one-time pairing codes people read to each other;
* :mod:`.pake`: CPace (draft-irtf-cfrg-cpace) turns a code into a session key, with key
  confirmation so a wrong code fails on both sides before any record-derived data moves;
* :mod:`.channel`: the sans-I/O record layer (ChaCha20-Poly1305, sequence numbers, close record);
* :mod:`.tcp`: the socket edge (one connection, timeouts, optional mutual TLS);
* :mod:`.tls_identity`: partner pins and the TLS channel binding;
* :mod:`.offline`: the same channel carried in message files, one step per exchange;
* :mod:`.mailbox`: offline steps run automatically through shared storage (fsspec);
* :mod:`.wormhole`: both sides connect out through magic-wormhole's mailbox server and relay.

Every transport is an adapter over the one session driver (:mod:`blindmatch.driver`).
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_exports

if TYPE_CHECKING:
    from .channel import MAX_PLAINTEXT as MAX_PLAINTEXT
    from .channel import OFFLINE_CHANNEL_ID as OFFLINE_CHANNEL_ID
    from .channel import TCP_CHANNEL_ID as TCP_CHANNEL_ID
    from .channel import WORMHOLE_CHANNEL_ID as WORMHOLE_CHANNEL_ID
    from .channel import RecordType as RecordType
    from .channel import SecureChannel as SecureChannel
    from .mailbox import Mailbox as Mailbox
    from .mailbox import run_mailbox as run_mailbox
    from .offline import DEFAULT_LIFETIME as DEFAULT_LIFETIME
    from .offline import MessageFile as MessageFile
    from .offline import OfflineParty as OfflineParty
    from .offline import read_message as read_message
    from .pairing import PairingCode as PairingCode
    from .pake import CPace as CPace
    from .pake import Side as Side
    from .tcp import MAX_GUESSES as MAX_GUESSES
    from .tcp import MAX_UNAUTHENTICATED as MAX_UNAUTHENTICATED
    from .tcp import ChannelSecured as ChannelSecured
    from .tcp import Connected as Connected
    from .tcp import Decide as Decide
    from .tcp import Dropped as Dropped
    from .tcp import OnEvent as OnEvent
    from .tcp import TlsContexts as TlsContexts
    from .tcp import make_tls_contexts as make_tls_contexts
    from .tcp import open_listener as open_listener
    from .tcp import run_connector as run_connector
    from .tcp import run_listener as run_listener
    from .tls_identity import Pin as Pin
    from .tls_identity import TlsContext as TlsContext
    from .tls_identity import certificate_pins as certificate_pins
    from .tls_identity import tls_binding as tls_binding
    from .wormhole import WormholeConnected as WormholeConnected
    from .wormhole import run_wormhole as run_wormhole
    from .wormhole import wormhole_code as wormhole_code

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "MAX_PLAINTEXT": ".channel",
        "OFFLINE_CHANNEL_ID": ".channel",
        "TCP_CHANNEL_ID": ".channel",
        "WORMHOLE_CHANNEL_ID": ".channel",
        "RecordType": ".channel",
        "SecureChannel": ".channel",
        "Mailbox": ".mailbox",
        "run_mailbox": ".mailbox",
        "DEFAULT_LIFETIME": ".offline",
        "MessageFile": ".offline",
        "OfflineParty": ".offline",
        "read_message": ".offline",
        "PairingCode": ".pairing",
        "CPace": ".pake",
        "Side": ".pake",
        "MAX_GUESSES": ".tcp",
        "MAX_UNAUTHENTICATED": ".tcp",
        "ChannelSecured": ".tcp",
        "Connected": ".tcp",
        "Decide": ".tcp",
        "Dropped": ".tcp",
        "OnEvent": ".tcp",
        "TlsContexts": ".tcp",
        "make_tls_contexts": ".tcp",
        "run_connector": ".tcp",
        "open_listener": ".tcp",
        "run_listener": ".tcp",
        "Pin": ".tls_identity",
        "TlsContext": ".tls_identity",
        "certificate_pins": ".tls_identity",
        "tls_binding": ".tls_identity",
        "WormholeConnected": ".wormhole",
        "run_wormhole": ".wormhole",
        "wormhole_code": ".wormhole",
    },
)

__all__ = [
    "DEFAULT_LIFETIME",
    "MAX_GUESSES",
    "MAX_PLAINTEXT",
    "MAX_UNAUTHENTICATED",
    "OFFLINE_CHANNEL_ID",
    "TCP_CHANNEL_ID",
    "WORMHOLE_CHANNEL_ID",
    "CPace",
    "ChannelSecured",
    "Connected",
    "Decide",
    "Dropped",
    "Mailbox",
    "MessageFile",
    "OfflineParty",
    "OnEvent",
    "PairingCode",
    "Pin",
    "RecordType",
    "SecureChannel",
    "Side",
    "TlsContext",
    "TlsContexts",
    "WormholeConnected",
    "certificate_pins",
    "make_tls_contexts",
    "read_message",
    "run_connector",
    "open_listener",
    "run_listener",
    "run_mailbox",
    "run_wormhole",
    "tls_binding",
    "wormhole_code",
]
