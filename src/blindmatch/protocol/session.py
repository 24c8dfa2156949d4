"""One party of a blindmatch session, as a state machine over bytes and events.

No sockets, files, threads or clocks: the program feeds the partner's bytes to
:meth:`Session.receive_data`, sends whatever :meth:`Session.data_to_send` returns, and reads
:meth:`Session.next_event` (the h11 pattern); :mod:`blindmatch.driver` does that over any
transport. Randomness and the elliptic-curve engine are injected.

Theory of operation (details and test vector in ``protocol_spec.md``)::

    both:  hello(nonce, terms)            -> agreement_id = H(hello_sender, hello_receiver, binding)
    both:  accept(agreement_id)           -> nothing derived from records before both accepts
    both:  lanes, blinded*                 H(k)^a per slot, one scalar per disclosure lane
    both:  returned*                       partner's points ^ our lane scalars: records
                                           lanes in order (+ OPRF), counts lanes shuffled
    both:  confirm(transcript hash)        results only once both transcripts agree
    each:  compares digests of H(k)^{ab} it received with those it computed

Every state change goes through :data:`~.transitions.TRANSITIONS`; the exchange itself lives
in :mod:`.exchange` and the comparison in :mod:`.matching`. Any error moves the session to
``ERROR``: it queues one ``abort`` for the partner, raises, and refuses all further use.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator, Sequence

from ..crypto.engine import CryptoEngine, default_engine
from ..errors import (
    AgreementError,
    BlindmatchError,
    CryptoError,
    LocalProtocolError,
    PeerAbortedError,
    ProtocolError,
    RemoteProtocolError,
)
from .agreement import SUITE, Agreement, Role, combine
from .events import AgreementReached, Event, PartnerTerms, ResultReady
from .exchange import Exchange
from .matching import compute_result
from .messages import (
    Abort,
    Accept,
    Blinded,
    Confirm,
    FrameDecoder,
    Hello,
    Lanes,
    Message,
    Returned,
    Tally,
    decode_message,
    encode_frame,
    encode_message,
)
from .model import OverlapResult, Record, Terms, declare_sizes
from .randomness import BufferedSystemRng, Rng
from .transcript import Transcript
from .transitions import Input, State, next_state

__all__ = ["Session", "State"]

#: The input each partner message is, for the transition table.
_MESSAGE_INPUTS: dict[type[Message], Input] = {
    Hello: Input.HELLO,
    Accept: Input.PARTNER_ACCEPT,
    Lanes: Input.LANES,
    Blinded: Input.BLINDED,
    Returned: Input.RETURNED,
    Tally: Input.TALLY,
    Confirm: Input.CONFIRM,
}


class Session:
    """One party of a two-party blindmatch session.

    :param role: ``Role.SENDER`` (listens) or ``Role.RECEIVER`` (connects); only orders the
        transcript.
    :param terms: what we propose: label, key types, populations and their disclosure.
    :param records: our records, keys already normalized with ``terms.normalization``.
    :param rng: randomness (nonce, scalars, shuffles, dummies); the OS CSPRNG by default.
    :param engine: where the curve work runs; by default the native engine if it is built.
    :param auto_accept: accept the partner's terms without asking (tests, notebooks).
    """

    def __init__(
        self,
        *,
        role: Role,
        terms: Terms,
        records: Sequence[Record],
        rng: Rng | None = None,
        engine: CryptoEngine | None = None,
        auto_accept: bool = False,
    ) -> None:
        self.role = role
        self.terms = terms
        self._records = list(records)
        self._rng: Rng = rng or BufferedSystemRng()
        self._engine: CryptoEngine = engine or default_engine()
        self._auto_accept = auto_accept
        self.state = State.START
        #: the partner message we expect next, for ordering checks and error messages
        self._expect = "hello"
        self._decoder = FrameDecoder()
        self._events: deque[Event] = deque()
        self._outbox = bytearray()
        self._hello_bytes: dict[Role, bytes] = {}
        self._partner_terms: Terms | None = None
        self.agreement: Agreement | None = None
        self._exchange: Exchange | None = None
        self._blinded: Generator[bytes, None, None] | None = None
        self._transcript = Transcript(role)
        self._confirm_sent = False
        self._partner_transcript: bytes | None = None
        self.result: OverlapResult | None = None
        #: a defect of the partner's data found while computing the result; reported to our
        #: user only, after everything owed to the partner went out as in an honest run
        self.quiet_failure: BlindmatchError | None = None

    def __repr__(self) -> str:
        role, label, state = self.role.value, self.terms.label, self.state.value
        return f"Session(role={role}, label={label!r}, state={state})"

    # -- the driving API ----------------------------------------------------------------------

    def start(self, *, binding: bytes = b"") -> None:
        """Queue our hello (nothing of our records). ``binding``: our connection's, §5.1."""
        self._move(Input.START, local=True)
        self._binding = binding
        self.terms = declare_sizes(self.terms, self._records)
        nonce = self._rng(32)
        hello = Hello(role=self.role.value, suite=SUITE, nonce=nonce, terms=self.terms)
        body = encode_message(hello)
        self._hello_bytes[self.role] = body
        self._queue(len(body).to_bytes(4, "big") + body)

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the partner. Raises ProtocolError if they break the protocol."""
        if self.state in (State.ERROR, State.CLOSED):
            raise LocalProtocolError(f"session is {self.state.value}; it cannot be used again")
        if self.state is State.START:
            raise LocalProtocolError("call start() before receive_data()")
        try:
            for body in self._decoder.feed(data):
                self._handle(decode_message(body), body)
        except BlindmatchError as exc:
            raise self._fail(exc) from None

    def receive_eof(self) -> None:
        """The partner closed its side. Fine after we have our result; otherwise an error."""
        if self.state in (State.DONE, State.ERROR, State.CLOSED):
            return
        where = f"while waiting for its {self._expect} message"
        if self._decoder.pending:
            where += f" ({self._decoder.pending} bytes of an unfinished frame)"
        raise self._fail(RemoteProtocolError(f"the partner closed the session {where}"))

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def data_to_send(self, *, compute: bool = True) -> bytes:
        """Bytes to send now: at most one computed chunk; ``compute=False``: only what is queued."""
        ex = self._exchange
        if compute and self.state is State.EXCHANGE and ex is not None and not ex.blinded_done:
            try:
                frame = next(self._blinded) if self._blinded else None
            except StopIteration:
                frame = None
                ex.blinded_done = True
            except BlindmatchError as exc:
                raise self._fail(exc, code="local_error") from None
            if frame is not None:
                self._queue(frame)
        if compute and self.state is State.EXCHANGE and ex is not None and ex.blinded_done:
            self._queue(ex.flush_returns())
            try:
                self._maybe_confirm()
                self._maybe_finish()
            except BlindmatchError as exc:
                raise self._fail(exc) from None  # (quiet if the session failed quietly)
        out = bytes(self._outbox)
        self._outbox.clear()
        return out

    @property
    def engine(self) -> CryptoEngine:
        """Where the curve work runs; the transports' channels reuse it for CPace's map."""
        return self._engine

    @property
    def waiting_for(self) -> str:
        """The partner message we expect next ("hello", "blinded", ...)."""
        return self._expect

    @property
    def needs_decision(self) -> bool:
        """The partner's terms are in and we have not yet accepted or rejected them."""
        return self.state in (State.AWAIT_DECISION, State.PARTNER_ACCEPTED)

    @property
    def done(self) -> bool:
        """We have our result and nothing is left to send."""
        return self.state is State.DONE and not self._outbox

    def accept(self) -> None:
        """Accept the partner's terms as shown in the PartnerTerms event."""
        self._move(Input.ACCEPT, local=True)
        agreement = self.agreement
        assert agreement is not None  # set on the move into AWAIT_DECISION
        self._queue(encode_frame(Accept(agreement=agreement.agreement_id)))
        if self.state is State.EXCHANGE:
            self._begin_exchange()

    def reject(self, reason: str) -> None:
        """Refuse the partner's terms; the partner is told why. The session is then closed."""
        self._move(Input.REJECT, local=True)
        self._outbox += encode_frame(Abort(code="rejected", reason=reason[:500]))

    # -- internals ------------------------------------------------------------------------------

    def _queue(self, frames: bytes) -> None:
        """Queue frames for the partner; they count in the transcript (5.7)."""
        self._outbox += frames
        self._transcript.sent(frames)

    def _move(self, event: Input, *, local: bool = False) -> None:
        """Take one move of the transition table, or refuse it."""
        after = next_state(self.state, event)
        if after is None:
            if local:
                raise LocalProtocolError(f"cannot {event.value} in state {self.state.value}")
            if event is Input.LANES and self.state is State.PARTNER_ACCEPTED:
                raise RemoteProtocolError("lanes message arrived before we accepted the agreement")
            raise RemoteProtocolError(
                f"unexpected {event.value} in state {self.state.value} of the session"
            )
        self.state = after

    def _fail(self, exc: BlindmatchError, *, code: str | None = None) -> BlindmatchError:
        """Enter ERROR, queue one abort for the partner, and return the error to raise."""
        exc = _as_remote(exc)
        if self.state not in (State.ERROR, State.CLOSED) and not isinstance(exc, PeerAbortedError):
            if code is None:
                code = "agreement" if isinstance(exc, AgreementError) else "protocol_violation"
            reason = str(exc) if isinstance(exc, ProtocolError) else "the partner hit a local error"
            # Nothing queued before the failure goes out after it: the abort is the last word.
            self._outbox.clear()
            self._outbox += encode_frame(Abort(code=code, reason=reason[:500]))
        self._enter_error()
        return exc

    def _fail_quietly(self, exc: BlindmatchError) -> BlindmatchError:
        """Enter ERROR for a defect found while matching (sealed data that does not open,
        fields not declared) *without* an abort: an abort would tell a cheating sealer whether
        the account it tampered with matched (a selective failure). Only our user learns."""
        self.quiet_failure = exc = _as_remote(exc)
        self._enter_error()
        return exc

    def _enter_error(self) -> None:
        if self.state not in (State.ERROR, State.CLOSED):
            self._move(Input.FAIL)
        if self._blinded is not None:
            # Release the engine's work queued for our lanes (an engine may work ahead).
            blinded, self._blinded = self._blinded, None
            blinded.close()

    def _handle(self, msg: Message, body: bytes) -> None:
        if isinstance(msg, Abort):
            # The reason is the partner's text, shown to our user: no control characters.
            reason = "".join(c if c.isprintable() else "?" for c in msg.reason)
            if msg.code == "rejected":
                raise PeerAbortedError(f"the partner rejected our terms: {reason}")
            raise PeerAbortedError(f"the partner stopped the session ({msg.code}): {reason}")
        if msg.t != self._expect:
            raise RemoteProtocolError(
                f"unexpected {msg.t} message while waiting for the partner's {self._expect}"
            )
        self._move(_MESSAGE_INPUTS[type(msg)])
        if isinstance(msg, Confirm):
            self._on_confirm(msg)
            return
        self._transcript.received(body)
        if isinstance(msg, Hello):
            self._on_hello(msg, body)
        elif isinstance(msg, Accept):
            self._on_accept(msg)
        else:
            ex = self._exchange
            assert ex is not None  # the table admits exchange messages only in EXCHANGE
            ex.receive(msg)
            self._expect = ex.expecting()
            if self._expect == "nothing more":
                self._expect = "confirm"
                self._maybe_confirm()

    def _on_hello(self, msg: Hello, body: bytes) -> None:
        if msg.role != self.role.other.value:
            raise RemoteProtocolError(
                f"hello message: the partner also claims role {msg.role!r}; one side must be "
                f"the sender and the other the receiver"
            )
        if msg.suite != SUITE:
            raise AgreementError(
                f"the partner proposes suite {msg.suite[:80]!r}; this implementation supports "
                f"only {SUITE!r}"
            )
        # The transcript binds the exact bytes received, not a re-encoding of them.
        self._hello_bytes[self.role.other] = body
        self._partner_terms = msg.terms
        self._expect = "accept"
        ours, theirs = self.terms, msg.terms
        sender, receiver = (ours, theirs) if self.role is Role.SENDER else (theirs, ours)
        self.agreement = combine(
            sender=sender, receiver=receiver, hellos=self._hello_bytes, binding=self._binding
        )
        self._events.append(PartnerTerms(terms=msg.terms, agreement=self.agreement))
        if self._auto_accept:
            self.accept()

    def _on_accept(self, msg: Accept) -> None:
        agreement = self.agreement
        assert agreement is not None  # set when the partner's hello arrived
        if msg.agreement != agreement.agreement_id:
            raise AgreementError(
                "accept message: the partner accepted a different agreement (the two sides see "
                "different hellos or TLS connections: a broken channel, a tampering relay)"
            )
        self._expect = "lanes"
        if self.state is State.EXCHANGE:
            self._begin_exchange()

    def _begin_exchange(self) -> None:
        """Both accepted: build our lanes, draw every secret, queue our lanes message."""
        agreement, partner = self.agreement, self._partner_terms
        assert agreement is not None and partner is not None  # both set before any accept
        self._events.append(AgreementReached(agreement=agreement))
        self._exchange = Exchange(
            role=self.role,
            terms=self.terms,
            partner_terms=partner,
            agreement=agreement,
            records=self._records,
            rng=self._rng,
            engine=self._engine,
            emit=self._events.append,
        )
        self._queue(self._exchange.lanes_frame())
        self._blinded = self._exchange.blinded_frames()

    def _maybe_confirm(self) -> None:
        """Once all of our messages are queued and all of the partner's arrived: confirm."""
        ex = self._exchange
        if self._confirm_sent or self.state is not State.EXCHANGE or ex is None:
            return
        if not (ex.blinded_done and ex.returns_flushed):
            return
        if self._expect not in ("confirm", "nothing more"):  # the partner's exchange is not in
            return
        self._outbox += encode_frame(Confirm(transcript=self._transcript_value()))
        self._confirm_sent = True

    def _on_confirm(self, msg: Confirm) -> None:
        """Checked once ours is out too: a partner with nothing left to receive from us may
        confirm before our (empty) last step is queued."""
        self._partner_transcript = msg.transcript
        self._expect = "nothing more"
        self._maybe_finish()

    def _transcript_value(self) -> bytes:
        assert self.agreement is not None  # set before any exchange message
        return self._transcript.value(self.agreement.agreement_id)

    def _maybe_finish(self) -> None:
        """Both confirms are through: compute the result (5.5), or fail quietly."""
        ex = self._exchange
        if self.state is not State.EXCHANGE or ex is None:
            return
        if not self._confirm_sent or self._partner_transcript is None:
            return
        if self._partner_transcript != self._transcript_value():
            raise RemoteProtocolError(
                "confirm message: the partner saw a different session than we did (a "
                "desynchronised or tampered session); no result is released"
            )
        try:
            self.result = compute_result(ex)
        except BlindmatchError as exc:
            raise self._fail_quietly(exc) from None
        self._move(Input.RESULT)
        self._events.append(ResultReady(result=self.result))


def _as_remote(exc: BlindmatchError) -> BlindmatchError:
    """A bad point from the partner surfaces from the crypto layer as a CryptoError; to our
    user and in the abort it is the partner's protocol violation."""
    return RemoteProtocolError(str(exc)) if isinstance(exc, CryptoError) else exc
