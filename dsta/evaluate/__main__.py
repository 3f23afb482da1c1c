from dsta.evaluate.cli import main

main()
