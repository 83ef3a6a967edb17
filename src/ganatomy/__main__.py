from ganatomy.cli import main

main()
