from edgeae.app.cli import main

raise SystemExit(main())
