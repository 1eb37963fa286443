"""A reply reduces to what its sender wrote: the github/email_reply_parser bodies from the shared corpus,
the council replies whose quoted original has no ``>`` (Outlook, Lotus), and French attributions."""

from __future__ import annotations

import pytest
import support.data

from services.intake_email.domain import html_to_text, new_text, parse_message

EMAIL_1_2 = """Hi,

You can list the keys for the bucket and call delete for each. Or if you
put the keys (and kept track of them in your test) you can delete them
one at a time (without incurring the cost of calling list first.)

Something like:

        String bucket = "my_bucket";
        BucketResponse bucketResponse = riakClient.listBucket(bucket);
        RiakBucketInfo bucketInfo = bucketResponse.getBucketInfo();

        for(String key : bucketInfo.getKeys()) {
            riakClient.delete(bucket, key);
        }

would do it.

See also

http://wiki.basho.com/REST-API.html#Bucket-operations

which says

"At the moment there is no straightforward way to delete an entire
Bucket. There is, however, an open ticket for the feature. To delete all
the keys in a bucket, you\u2019ll need to delete them all individually.\""""

EMAIL_1_5 = """One: Here's what I've got.

- This would be the first bullet point that wraps to the second line
to the next
- This is the second bullet point and it doesn't wrap
- This is the third bullet point and I'm having trouble coming up with enough
to say
- This is the fourth bullet point

Two:
- Here is another bullet point
- And another one

This is a paragraph that talks about a bunch of stuff. It goes on and on
for a while."""

GREEDY_ON = """On your remote host you can run:

     telnet 127.0.0.1 52698

This should connect to TextMate (on your Mac, via the tunnel). If that
fails, the tunnel is not working."""

REPLY_BODIES = {
    "email_1_2.txt": EMAIL_1_2,  # bottom post: text between quotes is kept, list footers go
    "email_1_3.txt": "Oh thanks.\n\nHaving the function would be great.",  # top post, "-Name" signature
    "email_1_5.txt": EMAIL_1_5,  # "- " bullets are not a signature
    "email_2_1.txt": "Outlook with a reply",  # rule, then *From:*/*Sent:* block
    "email_2_2.txt": "Outlook with a reply directly above line",  # underscores right under the text
    "greedy_on.txt": GREEDY_ON,  # "On your remote host..." is not an attribution
}


def reply_dir():
    return support.data.shared_data() / "email" / "reply_bodies_github_email_reply_parser"


def test_every_reply_body_of_the_corpus_has_an_expected_text() -> None:
    assert sorted(p.name for p in reply_dir().iterdir()) == sorted(REPLY_BODIES)


@pytest.mark.parametrize("name", sorted(REPLY_BODIES))
def test_reply_bodies_reduce_to_the_new_text(name: str) -> None:
    body = (reply_dir() / name).read_text("utf-8")
    assert new_text(body) == REPLY_BODIES[name]


@pytest.mark.parametrize("name", sorted(REPLY_BODIES))
def test_crlf_bodies_reduce_alike(name: str) -> None:
    body = (reply_dir() / name).read_text("utf-8").replace("\n", "\r\n")
    assert new_text(body) == REPLY_BODIES[name]


COUNCIL_REPLIES = {
    # Outlook "From: ... [mailto:] On Behalf Of" / "Sent:" block with no ">" markers
    "alaveteli_foi_public_body_mail/forward-quoting-example-2.eml":
        "Dear Mr Smith\n\nSome information\n\nYours sincerely\n\nFoi Officer\n\n"
        "Please note that my email address has changed to foi@example.com",
    # Lotus Notes "Name <addr>" / "Sent by:" / "Please respond to" block
    "alaveteli_foi_public_body_mail/lotus-notes-quoting.eml":
        "Dear Requester,\n\nSome text.\n\nYours sincerely\n\nFOI Team",
    # Thunderbird top post over "On ... wrote:" and ">" quotes, format=flowed
    "alaveteli_foi_public_body_mail/russian.eml": None,
}


@pytest.mark.parametrize("name", sorted(COUNCIL_REPLIES))
def test_council_replies_lose_the_quoted_original(name: str) -> None:
    parsed = parse_message((support.data.shared_data() / "email" / name).read_bytes())
    text = new_text(parsed.text)
    if COUNCIL_REPLIES[name] is not None:
        assert text == COUNCIL_REPLIES[name]
    else:
        assert text.startswith("Уважаемая Оксана Позднякова,")
        assert "wrote:" not in text and "подобный сайт" not in text and "Хелень Крос" in text


def test_an_html_reply_loses_its_blockquote_and_attribution() -> None:
    html = ('<div>Le lampadaire est toujours éteint.</div><div>Merci</div>'
            '<div class="gmail_quote"><div>Le lun. 3 mars 2025 à 10:02, Ville &lt;311@ville.example&gt; a écrit :</div>'
            '<blockquote type="cite">Votre demande NYC-26-000042 est reçue.</blockquote></div>')
    assert new_text(html_to_text(html)) == "Le lampadaire est toujours éteint.\nMerci"


def test_an_outlook_html_reply_loses_the_block_under_its_rule() -> None:
    html = ('<p class=MsoNormal>The bin is back.</p><div><hr size=2 width="100%"></div>'
            '<p><b>From:</b> City 311 [mailto:311@city.example]<br><b>Sent:</b> 19 May 2008<br>'
            '<b>To:</b> Jane<br><b>Subject:</b> RE: request</p><p>Dear Jane</p>')
    assert new_text(html_to_text(html)) == "The bin is back."


@pytest.mark.parametrize(("body", "expected"), [
    ("Le trou est encore là.\n\nLe lun. 3 mars 2025 à 10:02, 311 Ville <311@ville.example> a écrit :\n"
     "> Votre demande NYC-26-000042 est reçue.\n", "Le trou est encore là."),
    ("Toujours pas réparé.\n\nLe 3 mars 2025 à 10:02, 311 Ville <311@ville.example> a\nécrit :\n> Bonjour\n",
     "Toujours pas réparé."),
    ("Toujours pas réparé.\n\n-----Message d'origine-----\nDe : 311 Ville\nEnvoyé : lundi 3 mars 2025\n"
     "À : moi\nObjet : Votre demande\n\nBonjour", "Toujours pas réparé."),
    ("Toujours pas réparé.\n\nDe : 311 Ville <311@ville.example>\nEnvoyé : lundi 3 mars 2025 10:02\n"
     "À : moi@example.org\nObjet : Votre demande NYC-26-000042\n\nBonjour", "Toujours pas réparé."),
    ("Still broken.\n\nOn Mon, Mar 3, 2025 at 10:02 AM City 311 <311@city.example>\nwrote:\n\n> Your request\n",
     "Still broken."),
    ("Still broken.\n\n-----Original Message-----\nFrom: City 311\nSent: Monday\nTo: me\nSubject: x\n\nold",
     "Still broken."),
    ("Still broken.\n\nOn Monday the City wrote:\nYour request was received.", "Still broken."),
    ("Still broken.\n-- \nJane Doe\n555-0100", "Still broken."),
    ("Still broken.\n\nSent from my iPhone", "Still broken."),
    ("Toujours cassé.\n\nEnvoyé de mon iPhone", "Toujours cassé."),
    ("> only a quote\n", ""),
    ("", ""),
])
def test_attributions_and_signatures_in_english_and_french(body: str, expected: str) -> None:
    assert new_text(body) == expected


def test_a_forward_keeps_the_forwarded_header_block() -> None:
    body = "See below.\n\nFrom: Neighbour <n@example.org>\nSent: Monday\nTo: me\nSubject: rats\n\nRats in the alley."
    assert new_text(body) == "See below."
    assert new_text(body, forward=True) == body
    gmail = "FYI\n\n---------- Forwarded message ---------\nFrom: N <n@example.org>\nDate: Mon\nSubject: rats\n" \
            "To: me\n\nRats in the alley."
    assert new_text(gmail) == gmail
