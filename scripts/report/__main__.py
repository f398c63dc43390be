from scripts.report.cli import main

raise SystemExit(main())
