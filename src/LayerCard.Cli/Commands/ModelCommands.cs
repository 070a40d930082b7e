using System.CommandLine;
using LayerCard.Common;
using LayerCard.Models;
using LayerCard.Tokenizers;

namespace LayerCard.Cli.Commands;

/// <summary>generate, info and tokenize: the base model and tokenizer on their own.</summary>
public static class ModelCommands
{
    private static Option<string> ModelOption(bool required) =>
        new("--model") { Description = DataOptionSet.ModelDescription, Required = required };

    private static Option<string?> TokenizerOption() =>
        new("--tokenizer") { Description = "a tokenizer file or folder, or a known asset name (gpt2, qwen3); default: beside the model" };

    /// <summary>layercard generate.</summary>
    public static Command Generate(TextWriter stdout)
    {
        var model = ModelOption(true);
        var tokenizer = TokenizerOption();
        var prompt = new Option<string>("--prompt") { Description = "text to continue (default: empty, starting from BOS)", DefaultValueFactory = _ => "" };
        var maxNew = new Option<int>("--max-new-tokens") { DefaultValueFactory = _ => 64 };
        var temperature = new Option<double>("--temperature") { Description = "0 is greedy", DefaultValueFactory = _ => 0.0 };
        var topK = new Option<int>("--top-k") { Description = "sample among the K likeliest tokens (0: all)", DefaultValueFactory = _ => 0 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var common = new CommonOptions();
        var command = new Command("generate", "Continue a prompt with the base model (KV cache; temperature 0 is greedy).")
        {
            model, tokenizer, prompt, maxNew, temperature, topK, seed,
        };
        common.AddTo(command);
        command.SetAction(parsed =>
        {
            if (parsed.GetValue(maxNew) < 0) throw new BadInputException("--max-new-tokens must be 0 or positive");
            // NaN passes a `< 0` test and then makes multinomial fail natively; infinity silently samples uniformly.
            var t = parsed.GetValue(temperature);
            if (!double.IsFinite(t) || t < 0) throw new BadInputException($"--temperature must be a finite number, 0 or positive, got {t.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            if (parsed.GetValue(topK) < 0) throw new BadInputException("--top-k must be 0 or positive");
            var device = common.Apply(parsed);
            using var loaded = ModelLoader.Load(parsed.GetValue(model)!, parsed.GetValue(tokenizer), device);
            var tok = loaded.RequireTokenizer();
            var text = parsed.GetValue(prompt)!;
            var ids = tok.Encode(text, addBos: tok.BosId.HasValue).ToList();
            if (ids.Count == 0) throw new BadInputException("--prompt is empty and the tokenizer has no BOS token to start from");
            var options = new GenerationOptions(parsed.GetValue(maxNew), parsed.GetValue(temperature), parsed.GetValue(topK), parsed.GetValue(seed),
                StopToken: tok.BosId == 1 && loaded.Config.Architecture == "llama2c" ? 1 : tok.EosId);
            var produced = new List<int>();
            var prefix = tok.Decode(ids);
            var printed = 0;
            stdout.Write(text);
            Generation.Generate(loaded.Model, ids, options, token =>
            {
                // Decode the whole sequence each time: one token can be half of a multi-byte character.
                produced.Add(token);
                var decoded = tok.Decode(ids.Concat(produced));
                var completion = decoded.StartsWith(prefix, StringComparison.Ordinal) ? decoded[prefix.Length..] : decoded;
                if (completion.Length > printed && !completion.EndsWith('\uFFFD'))
                {
                    stdout.Write(completion[printed..]);
                    stdout.Flush();
                    printed = completion.Length;
                }
            });
            stdout.WriteLine();
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>layercard info.</summary>
    public static Command Info(TextWriter stdout)
    {
        var model = ModelOption(true);
        var tokenizer = TokenizerOption();
        var command = new Command("info", "Describe a model: family, shape, parameters, file dtype, tokenizer.") { model, tokenizer };
        command.SetAction(parsed =>
        {
            using var loaded = ModelLoader.Load(parsed.GetValue(model)!, parsed.GetValue(tokenizer), TorchSharp.torch.CPU);
            var c = loaded.Config;
            var rows = new (string, string)[]
            {
                ("source", loaded.Source), ("architecture", c.Architecture), ("family", c.Family), ("layers", $"{c.Layers}"),
                ("hidden size", $"{c.Hidden}"), ("intermediate size", $"{c.Intermediate}"), ("heads", $"{c.Heads}"),
                ("kv heads", $"{c.KvHeads}"), ("head dim", $"{c.HeadDim}"), ("vocab", $"{c.Vocab}"),
                ("parameters", $"{loaded.ParameterCount:N0}"), ("tied head", c.TiedEmbeddings ? "yes" : "no"),
                ("file dtype", loaded.FileDType), ("compute dtype", "F32"),
                ("tokenizer", loaded.Tokenizer is null ? "not found" : $"found ({loaded.Tokenizer.VocabSize} tokens)"),
                ("content sha256", loaded.ContentHash),
            };
            foreach (var (name, value) in rows) stdout.WriteLine($"{name,-18} {value}");
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>layercard tokenize.</summary>
    public static Command Tokenize(TextWriter stdout)
    {
        var tokenizer = TokenizerOption();
        var model = ModelOption(false);
        var text = new Option<string>("--text") { Required = true };
        var bos = new Option<bool>("--bos") { Description = "prepend the BOS token" };
        var command = new Command("tokenize", "Print the token ids of a text, space separated.") { tokenizer, model, text, bos };
        command.SetAction(parsed =>
        {
            var tokenizerReference = parsed.GetValue(tokenizer) ?? parsed.GetValue(model)
                ?? throw new BadInputException("tokenize needs --tokenizer or --model");
            var tok = TokenizerLoader.Load(Assets.Resolve(tokenizerReference, parsed.GetValue(tokenizer) is null ? "model" : "tokenizer"));
            stdout.WriteLine(string.Join(" ", tok.Encode(parsed.GetValue(text)!, parsed.GetValue(bos))));
            return ExitCodes.Success;
        });
        return command;
    }
}
