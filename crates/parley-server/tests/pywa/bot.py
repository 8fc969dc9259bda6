"""A pywa bot written for Meta's Cloud API, pointed at Parley instead.

Nothing in it knows about Parley but its transport: the httpx session sends what pywa addresses to
graph.facebook.com to Parley's Cloud-API-compatible endpoint ({PARLEY_URL}/graph/...), and Parley
posts Meta-shaped, signed webhooks to its Flask server. Used by tests/api/graph_compat.rs, which
reads what it prints:

    READY                       the webhook server is up
    SENT <message id>           a reply went out (the id the API answered)
    TEMPLATE <message id>       a template went out
    STATUS <message id> <status>  a status webhook arrived
"""

import logging
import os

import httpx
from flask import Flask
from pywa import WhatsApp, filters
from pywa.types import Message, MessageStatus
from pywa.types.templates import TemplateLanguage

PARLEY = httpx.URL(os.environ["PARLEY_URL"])


def to_parley(request: httpx.Request) -> None:
    """graph.facebook.com/v…/… → {PARLEY_URL}/graph/v…/…"""
    request.url = request.url.copy_with(
        scheme=PARLEY.scheme, host=PARLEY.host, port=PARLEY.port, path="/graph" + request.url.path
    )
    request.headers["host"] = f"{PARLEY.host}:{PARLEY.port}"


app = Flask(__name__)
wa = WhatsApp(
    phone_id=os.environ["PHONE_ID"],
    token=os.environ["TOKEN"],
    session=httpx.Client(event_hooks={"request": [to_parley]}),
    server=app,
    webhook_endpoint="/webhook",
    verify_token=os.environ["VERIFY_TOKEN"],
    app_secret=os.environ["APP_SECRET"],
)


def say(line: str) -> None:
    print(line, flush=True)


@wa.on_message(filters.text)
def on_text(client: WhatsApp, msg: Message) -> None:
    msg.indicate_typing()
    if msg.text == "template please":
        sent = client.send_template(
            to=msg.from_user.wa_id,
            name="order_update",
            language=TemplateLanguage.ENGLISH,
            params=[{"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "A-1"}]}],
        )
        say(f"TEMPLATE {sent.id}")
    else:
        sent = msg.reply_text(f"echo: {msg.text}")
        say(f"SENT {sent.id}")


@wa.on_message_status()
def on_status(client: WhatsApp, status: MessageStatus) -> None:
    say(f"STATUS {status.id} {status.status.value}")


if __name__ == "__main__":
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    say("READY")
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]))
