from smctl.cli.app import main

main()
