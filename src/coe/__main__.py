from coe.cli.main import main

main()
