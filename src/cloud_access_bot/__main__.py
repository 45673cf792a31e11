"""``python -m cloud_access_bot``: the same commands as the ``cloud-access-bot`` script."""

from cloud_access_bot.cli import main

raise SystemExit(main())
