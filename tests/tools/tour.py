#!/usr/bin/env python3
"""The README's tour, through a client that openapi-python-client generated from the server's
own /openapi.json: nothing here speaks HTTP by hand.

    python3 tests/tools/tour.py FOLDER BASE_URL

FOLDER holds the generated package `protocol_client` (`openapi-python-client generate --meta
none --output-path FOLDER/protocol_client`, as the README says), BASE_URL is a server started
with the shipped protocol.toml (demo data and its example tokens). Every step
checks what came back; the first that does not match stops the tour with exit code 1.
Run by tests/tools.rs.
"""
import io
import sys

folder, base = sys.argv[1], sys.argv[2]
sys.path.insert(0, folder)

from protocol_client import AuthenticatedClient  # noqa: E402  (the generated package)
from protocol_client.api.attachments import (  # noqa: E402
    create_attachment,
    get_attachment,
    get_attachment_content,
)
from protocol_client.api.contacts import create_contact  # noqa: E402
from protocol_client.api.conversations import (  # noqa: E402
    create_conversation,
    get_conversation,
    list_conversations,
    update_conversation,
)
from protocol_client.api.messages import (  # noqa: E402
    create_message,
    get_message,
    list_messages,
    update_message,
)
from protocol_client.models import (  # noqa: E402
    Attachment,
    Contact,
    Conversation,
    ErrorBody,
    Message,
    NewContactRequest,
    NewConversationWithContact,
    NewMessageRequest,
    NewMessageRequestForm,
    UpdateConversationRequestForm,
    UpdateMessageRequest,
    UpdateMessageRequestReactions,
    UploadRequest,
)
from protocol_client.types import UNSET, File  # noqa: E402

KATE = AuthenticatedClient(base_url=base, token="kate-example-token-change-me")
KEVIN = AuthenticatedClient(base_url=base, token="kevin-example-token-change-me")
WITH_KEVIN = "xgQQXg3hrtjh7AvZ"  # Kate's conversation with Kevin
KEVINS_MESSAGE = "SIuAFUNKdSYHZF2w"
INVOICE = "Nc6yKKMpcxiiFxp6"
steps = 0


def check(what, condition, got=None):
    global steps
    if not condition:
        print(f"tour: {what}: not as expected: {got!r}", file=sys.stderr)
        sys.exit(1)
    steps += 1


def answer(what, response, status, kind):
    check(f"{what}: status", response.status_code == status, (response.status_code, response.content[:300]))
    check(f"{what}: type", isinstance(response.parsed, kind), response.parsed)
    return response.parsed


# Kate's conversations, most recently active first, and her chat with Kevin (newest first).
page = answer("list conversations", list_conversations.sync_detailed(client=KATE, limit=10), 200, object)
check("Kate's conversations", WITH_KEVIN in [c.id for c in page.data], page)
page = answer("list messages", list_messages.sync_detailed(client=KATE, conversation_id=WITH_KEVIN, limit=10), 200, object)
check("newest first", page.data[0].id == KEVINS_MESSAGE, [m.id for m in page.data])

# Kate answers (JSON), then again as a form, and reacts to Kevin's last message as herself.
sent = answer("send", create_message.sync_detailed(
    client=KATE, body=NewMessageRequest(conversation_id=WITH_KEVIN, message="Stay put, Kevin.")), 201, Message)
check("sent by Kate", sent.contact.username == "KateMcCallister", sent.contact)
again = answer("send a form", create_message.sync_detailed(
    client=KATE, body=NewMessageRequestForm(conversation_id=WITH_KEVIN, message="I'm on my way.")), 201, Message)
reactions = UpdateMessageRequestReactions.from_dict({"red_angry_face": ["KateMcCallister"]})
reacted = answer("react", update_message.sync_detailed(
    KEVINS_MESSAGE, client=KATE, body=UpdateMessageRequest(reactions=reactions)), 200, Message)
check("her reaction", any("KateMcCallister" in r.additional_properties.get("red_angry_face", [])
                          for r in reacted.reactions), reacted.reactions)

# She edits her own message; editing Kevin's is refused with the error body.
edited = answer("edit", update_message.sync_detailed(
    sent.id, client=KATE, body=UpdateMessageRequest(message="Stay put, Kevin. Please.")), 200, Message)
check("edited text", edited.message == "Stay put, Kevin. Please." and edited.updated_at is not None, edited)
refused = answer("edit Kevin's", update_message.sync_detailed(
    KEVINS_MESSAGE, client=KATE, body=UpdateMessageRequest(message="mine now")), 403, ErrorBody)
check("403 body", refused.type_ == "invalid_request" and refused.message, refused)

# Kevin opens the conversation (marks Kate's messages read) and mutes it for himself.
opened = answer("open", get_conversation.sync_detailed(WITH_KEVIN, client=KEVIN), 200, Conversation)
check("opened", opened.id == WITH_KEVIN, opened)
muted = answer("mute", update_conversation.sync_detailed(
    WITH_KEVIN, client=KEVIN, body=UpdateConversationRequestForm(is_muted=True)), 200, Conversation)
check("muted", muted.is_muted is True, muted)
read = answer("read receipt", get_message.sync_detailed(again.id, client=KATE), 200, Message)
check("read", read.read_at is not None, read)

# The next page after a message, and back: cursors.
first = answer("page 1", list_messages.sync_detailed(client=KATE, conversation_id=WITH_KEVIN, limit=2), 200, object)
check("page 1 has more", first.has_more and len(first.data) == 2, first)
second = answer("page 2", list_messages.sync_detailed(
    client=KATE, conversation_id=WITH_KEVIN, limit=2, starting_after=first.data[-1].id), 200, object)
check("page 2 follows", second.data and second.data[0].id not in [m.id for m in first.data], second)
back = answer("back", list_messages.sync_detailed(
    client=KATE, conversation_id=WITH_KEVIN, limit=2, ending_before=second.data[0].id), 200, object)
check("back to page 1", [m.id for m in back.data] == [m.id for m in first.data], back)

# The invoice's bytes, an upload and its download, attached to a new message.
invoice = get_attachment_content.sync_detailed(INVOICE, client=KATE)
check("invoice", invoice.status_code == 200 and invoice.content.startswith(b"%PDF") and len(invoice.content) == 21352,
      (invoice.status_code, len(invoice.content)))
payload = b"Kevin, the police are on their way.\n"
uploaded = answer("upload", create_attachment.sync_detailed(client=KATE, body=UploadRequest(
    file=File(payload=io.BytesIO(payload), file_name="note.txt", mime_type="text/plain"))), 201, Attachment)
check("uploaded size", uploaded.file_size == len(payload) and uploaded.filename == "note.txt", uploaded)
download = get_attachment_content.sync_detailed(uploaded.id, client=KATE)
check("download", download.status_code == 200 and download.content == payload, download.content)
part = get_attachment_content.sync_detailed(uploaded.id, client=KATE, range_="bytes=0-4")
check("range", part.status_code == 206 and part.content == payload[:5], (part.status_code, part.content))
with_file = answer("send with the file", create_message.sync_detailed(client=KATE, body=NewMessageRequest(
    conversation_id=WITH_KEVIN, message="See the note.", attachments=[uploaded.id])), 201, Message)
check("attached", [a.id for a in with_file.attachments] == [uploaded.id], with_file.attachments)
record = answer("attachment record", get_attachment.sync_detailed(uploaded.id, client=KEVIN), 200, Attachment)
check("Kevin sees it", record.message_id == with_file.id, record)

# A 404 and its error body.
missing = answer("404", get_message.sync_detailed("AAAAAAAAAAAAAAAA", client=KATE), 404, ErrorBody)
check("404 body", missing.type_ == "invalid_request" and "AAAAAAAAAAAAAAAA" in missing.message
      and missing.documentation_url.startswith(base) and missing.param is UNSET, missing)

# Kevin adds his uncle Frank, and their direct conversation exists already (200).
frank = answer("add Frank", create_contact.sync_detailed(client=KEVIN, body=NewContactRequest(
    username="FrankMcCallister", phone_number="1-800-759-3000")), 201, Contact)
conversation = create_conversation.sync_detailed(
    client=KEVIN, body=NewConversationWithContact(contact_id=frank.id))
check("their conversation", conversation.status_code in (200, 201)
      and conversation.parsed.id == frank.conversation_id, (conversation.status_code, conversation.content))

print(f"tour: ok, {steps} checks")
