"""Media kept by us (docs/channels.md, "Media kept by us"): every channel downloads a resident's photo,
video, voice note or document at intake (`fetch`, within `MediaLimits`), cleans it (`clean`: images
re-encoded without metadata), keeps it in its own schema (`MediaStore`, table from `MEDIA_TABLE_SQL`) and
serves it at `GET /media/{media_id}` (`mount_media`). The portal's photo processing is `shared.media.photos`."""
