from followir.cli import main

main()
