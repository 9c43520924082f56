from edgeae.cli import main

raise SystemExit(main())
