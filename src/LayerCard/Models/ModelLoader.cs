using System.Security.Cryptography;
using LayerCard.Common;
using LayerCard.Models.Checkpoints;
using LayerCard.Tokenizers;
using TorchSharp;
using static TorchSharp.torch;

namespace LayerCard.Models;

/// <summary>A frozen base model ready to run, with where it came from.</summary>
public sealed class LoadedModel(CausalLM model, ITokenizer? tokenizer, string source, string fileDType, string contentHash, Device device) : IDisposable
{
    /// <summary>The model, in eval mode with frozen weights.</summary>
    public CausalLM Model { get; } = model;
    /// <summary>The model's shape and settings.</summary>
    public ModelConfig Config => Model.Config;
    /// <summary>The tokenizer given or found beside the model, or null when there is none.</summary>
    public ITokenizer? Tokenizer { get; } = tokenizer;
    /// <summary>The model folder or llama2.c file the weights were read from.</summary>
    public string Source { get; } = source;
    /// <summary>The dtype the weights were stored in on disk, e.g. "BF16" (always "F32" for llama2.c); the model itself runs in fp32.</summary>
    public string FileDType { get; } = fileDType;
    /// <summary>A sha256 fingerprint of the weights: of the whole file for llama2.c, of headers and samples for safetensors (see <see cref="HfCheckpoint.ContentHash"/>).</summary>
    public string ContentHash { get; } = contentHash;
    /// <summary>The device the model was moved to.</summary>
    public Device Device { get; } = device;
    /// <summary>Number of base (frozen) parameters.</summary>
    public long ParameterCount => Model.BaseParameters().Values.Sum(p => p.numel());

    /// <summary>The tokenizer, or a refusal naming the model file and the "tokenizer" field when none was found.</summary>
    public ITokenizer RequireTokenizer() =>
        Tokenizer ?? throw BadInputException.Naming("tokenizer", n => $"{Source}: no tokenizer found beside the model; pass {n("tokenizer")}");

    /// <summary>Frees the model and, when disposable, the tokenizer.</summary>
    public void Dispose()
    {
        Model.Dispose();
        (Tokenizer as IDisposable)?.Dispose();
    }
}

/// <summary>
/// Opens what a model reference names: a Hugging Face model folder (config.json with model.safetensors or a sharded
/// index) or a llama2.c checkpoint, with the tokenizer beside it. Pickled PyTorch files (.bin, .pt, .pth)
/// are never unpickled: loading one can execute arbitrary code.
/// </summary>
public static class ModelLoader
{
    /// <summary>
    /// Loads the model <paramref name="reference"/> names (a path or a known asset name) onto <paramref name="device"/>,
    /// with the tokenizer <paramref name="tokenizerReference"/> names or, when null, the one beside the model.
    /// A reference that resolves to nothing is refused naming the field ("model", "tokenizer").
    /// </summary>
    public static LoadedModel Load(string reference, string? tokenizerReference, Device device)
    {
        var path = Assets.Resolve(reference, "model");
        var (model, source, dtype, hash) = Directory.Exists(path) ? LoadFolder(path) : LoadFile(path);
        try
        {
            model.eval();
            if (device.type != DeviceType.CPU) model.to(device);
            var tokenizer = LoadTokenizer(tokenizerReference, Directory.Exists(path) ? path : Path.GetDirectoryName(path)!);
            if (tokenizer != null && tokenizer.VocabSize > model.Config.Vocab)
                throw new BadInputException($"{tokenizerReference ?? path}: the tokenizer has {tokenizer.VocabSize} tokens but the model's embedding has only {model.Config.Vocab} rows");
            return new LoadedModel(model, tokenizer, source, dtype, hash, device);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    private static (CausalLM, string, string, string) LoadFolder(string folder)
    {
        var configPath = Path.Combine(folder, "config.json");
        if (File.Exists(configPath))
        {
            var config = HfConfig.Load(configPath).ToModelConfig();
            using var checkpoint = HfCheckpoint.Open(folder);
            CheckConfigFitsCheckpoint(config, checkpoint, configPath);
            var model = WeightLoading.Create(config);
            WeightLoading.LoadStrict(model, new CheckpointSource(checkpoint), CPU);
            return (model, folder, checkpoint.FileDType, checkpoint.ContentHash());
        }
        var pickled = Directory.GetFiles(folder).Where(IsPickleName).ToList();
        var llama2c = Directory.GetFiles(folder, "*.bin").Where(f => !IsTokenizerName(f) && !IsPickled(f)).Order(StringComparer.Ordinal).ToList();
        if (llama2c.Count == 1) return LoadFile(llama2c[0]);
        if (llama2c.Count > 1)
            throw BadInputException.InFile(folder, $"several llama2.c checkpoints ({string.Join(", ", llama2c.Select(Path.GetFileName))}); name the file");
        if (pickled.Count > 0)
            throw BadInputException.InFile(pickled[0], "is a pickled PyTorch file; LayerCard never unpickles (it can execute code): convert it to safetensors");
        throw BadInputException.InFile(folder, "no config.json (Hugging Face model folder) and no llama2.c .bin checkpoint");
    }

    /// <summary>
    /// The model is allocated and initialised from config.json before any tensor shape is compared, so a config
    /// claiming huge dimensions (a typo, or a config from another model) would ask for tens of GB or fail inside
    /// libtorch. Every parameter must come from the checkpoint, so a lower bound on the parameter count
    /// (embedding, q_proj, two MLP matrices, GPT-2's position table) cannot exceed the values stored.
    /// </summary>
    private static void CheckConfigFitsCheckpoint(ModelConfig c, HfCheckpoint checkpoint, string configPath)
    {
        double atLeast = (double)c.Vocab * c.Hidden + (double)c.Layers * c.Hidden * ((double)c.QDim + 2.0 * c.Intermediate)
            + (c.Family == ModelConfig.Gpt2 ? (double)c.MaxPositions * c.Hidden : 0);
        double stored = checkpoint.Names.Sum(n => (double)checkpoint.Entry(n).ElementCount);
        if (atLeast > stored)
            throw BadInputException.InFile(configPath,
                $"describes a model of at least {atLeast:N0} parameters but the checkpoint holds only {stored:N0} values (wrong config.json for these weights?)");
    }

    private static (CausalLM, string, string, string) LoadFile(string file)
    {
        var name = Path.GetFileName(file);
        if (name.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) || name == "config.json" || name.EndsWith(".index.json", StringComparison.Ordinal))
            return LoadFolder(Path.GetDirectoryName(file)!);
        if (IsPickled(file) || name.EndsWith(".pt", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".pth", StringComparison.OrdinalIgnoreCase))
            throw BadInputException.InFile(file, "is a pickled PyTorch file; LayerCard never unpickles (it can execute code): convert it to safetensors");
        var (config, tensors) = Llama2cCheckpoint.Read(file);
        try
        {
            var model = WeightLoading.Create(config);
            WeightLoading.LoadStrict(model, new InMemoryTensorSource(file, tensors), CPU);
            return (model, file, "F32", FileHash(file));
        }
        finally
        {
            foreach (var t in tensors.Values) t.Dispose();
        }
    }

    private static ITokenizer? LoadTokenizer(string? reference, string modelFolder)
    {
        if (reference != null) return TokenizerLoader.Load(Assets.Resolve(reference, "tokenizer"));
        var candidates = new[] { "tokenizer.json", "vocab.json", "tokenizer.bin" };
        var present = candidates.Any(c => File.Exists(Path.Combine(modelFolder, c))) || Directory.GetFiles(modelFolder, "tok*.bin").Length > 0;
        return present ? TokenizerLoader.Load(modelFolder) : null;
    }

    private static bool IsTokenizerName(string file) =>
        Path.GetFileName(file).StartsWith("tok", StringComparison.OrdinalIgnoreCase);

    private static bool IsPickleName(string file)
    {
        var name = Path.GetFileName(file);
        return name.EndsWith(".pt", StringComparison.OrdinalIgnoreCase) || name.EndsWith(".pth", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith(".ckpt", StringComparison.OrdinalIgnoreCase) || (name.EndsWith(".bin", StringComparison.OrdinalIgnoreCase) && IsPickled(file));
    }

    /// <summary>torch.save writes a zip archive (PK) or, in its legacy format, a pickle stream (0x80 protocol byte).</summary>
    public static bool IsPickled(string file)
    {
        Span<byte> magic = stackalloc byte[3];
        using var stream = File.OpenRead(file);
        if (stream.ReadAtLeast(magic, 3, throwOnEndOfStream: false) < 3) return false;
        if (magic[0] == (byte)'P' && magic[1] == (byte)'K' && magic[2] == 3) return true;
        // The third byte tells a pickle opcode (long, frame, dict, list, global, mark) from a llama2.c header whose dim is 0x0280.
        return magic[0] == 0x80 && magic[1] is >= 2 and <= 5 && magic[2] is 0x8a or 0x95 or (byte)'}' or (byte)']' or (byte)'c' or (byte)'(';
    }

    private static string FileHash(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    private sealed class CheckpointSource(HfCheckpoint checkpoint) : ITensorSource
    {
        /// <summary>The model folder.</summary>
        public string Origin => checkpoint.Directory;
        /// <summary>Every tensor name in the checkpoint.</summary>
        public IReadOnlyCollection<string> Names => checkpoint.Names;
        /// <summary>A tensor's shape from its header entry.</summary>
        public long[] Shape(string name) => checkpoint.Entry(name).Shape;
        /// <summary>Reads a tensor converted to <paramref name="dtype"/>.</summary>
        public Tensor Read(string name, ScalarType dtype) => checkpoint.Read(name, dtype);
    }
}
