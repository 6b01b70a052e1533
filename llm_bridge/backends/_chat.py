"""Chat conversations encoded as prompt strings, so particles can extend an assistant message (internal).

``chat_prompt(messages)`` returns ``CHAT_SENTINEL + json(messages) + NUL + partial``; a particle's steps are
appended to it; ``decode_chat`` splits it back for ``/v1/chat/completions``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

__all__ = ["CHAT_SENTINEL", "chat_prompt", "decode_chat"]

CHAT_SENTINEL = "\x00chat\x00"


def chat_prompt(messages: Sequence[dict], *, continue_final_message: bool = False) -> str:
    """Encode a conversation as a prompt string for ``api="chat"``.

    With ``continue_final_message=True`` the last message (the assistant's partial
    answer) is left open: text appended to the returned string (a particle's steps)
    extends that message.  Otherwise a new assistant turn is generated.
    """
    msgs = [dict(m) for m in messages]
    for i, m in enumerate(msgs):
        if not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] needs string 'role' and 'content', got {m!r}")
    partial = ""
    if continue_final_message:
        if not msgs or msgs[-1]["role"] != "assistant":
            raise ValueError("continue_final_message=True needs a final assistant message")
        partial = msgs.pop()["content"]
    return CHAT_SENTINEL + json.dumps(msgs) + "\x00" + partial

def decode_chat(prompt: str) -> tuple[list[dict], str | None]:
    if not prompt.startswith(CHAT_SENTINEL):
        return [{"role": "user", "content": prompt}], None
    body = prompt[len(CHAT_SENTINEL) :]
    head, sep, partial = body.partition("\x00")
    try:
        msgs = json.loads(head)
    except json.JSONDecodeError as e:
        raise ValueError("a chat prompt was corrupted (text inserted before the partial answer)") from e
    return msgs, (partial if sep else None)
