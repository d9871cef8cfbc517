from kdcore.cli import main

raise SystemExit(main())
