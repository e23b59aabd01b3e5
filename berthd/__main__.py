from berthd.cli.main import main

main()
