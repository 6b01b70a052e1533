from probinf_cli.main import main

main()
