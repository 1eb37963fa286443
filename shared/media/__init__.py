"""Media kept by us (docs/channels.md, "Media kept by us"): every channel downloads a resident's photo,
video, voice note or document at intake (`fetch`, within `MediaLimits`), cleans it (`clean`: pictures
re-encoded without metadata by `photos.process_photo`), keeps it in its own schema (`MediaStore`, table
from `MEDIA_TABLE_SQL`) and serves it at `GET /media/{media_id}` (`mount_media`); a message's provider links become our URLs with
`with_our_media`."""

from shared.media.clean import Cleaned, clean
from shared.media.fetch import Fetched, MediaLimits, MediaRefused, MediaUnavailable, fetch
from shared.media.http import mount_media
from shared.media.kinds import ALLOWED_TYPES
from shared.media.links import keep_copy, with_our_media
from shared.media.store import MEDIA_TABLE_SQL, MediaStore, StoredMedia, media_id_of

__all__ = ["ALLOWED_TYPES", "MEDIA_TABLE_SQL", "Cleaned", "Fetched", "MediaLimits", "MediaRefused", "MediaStore",
           "MediaUnavailable", "StoredMedia", "clean", "fetch", "keep_copy", "media_id_of", "mount_media",
           "with_our_media"]
