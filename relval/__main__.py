from relval.cli import main

main()
