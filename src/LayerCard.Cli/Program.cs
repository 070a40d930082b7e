return LayerCard.Cli.CliApp.Run(args, Console.Out, Console.Error);
