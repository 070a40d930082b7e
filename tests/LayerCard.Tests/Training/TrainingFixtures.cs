using System.Text.Json;
using LayerCard.Cli;
using LayerCard.Models;
using LayerCard.Models.Checkpoints;
using LayerCard.Tests.Models;
using static TorchSharp.torch;

namespace LayerCard.Tests.Training;

/// <summary>Tiny models and datasets on disk, and a way to run the real CLI in-process.</summary>
public static class TrainingFixtures
{
    public static string TinyModel(TempFolder folder, string architecture = "Qwen3ForCausalLM", int layers = 3)
    {
        var config = architecture == "GPT2LMHeadModel" ? TinyModels.Gpt2(layers: layers) : TinyModels.Llama(architecture, layers: layers);
        return TinyHfDirectory.Write(folder["model-" + architecture], config, TinyModels.RandomWeights(config, 11));
    }

    /// <summary>A prompt/completion JSONL task a tiny model can learn: continue a short letter sequence.</summary>
    public static string CountingTask(TempFolder folder, int examples = 48, string name = "task.jsonl")
    {
        var lines = Enumerable.Range(0, examples).Select(i =>
        {
            var start = (char)('a' + i % 20);
            var prompt = $"after {start}{(char)(start + 1)}{(char)(start + 2)} comes";
            return JsonSerializer.Serialize(new { prompt, completion = $" {(char)(start + 3)}{(char)(start + 4)}" });
        });
        var path = folder[name];
        File.WriteAllLines(path, lines);
        return path;
    }

    public static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = CliApp.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    public static Dictionary<string, Tensor> ReadAll(string safetensorsPath)
    {
        using var file = SafetensorsFile.Open(safetensorsPath);
        return file.Tensors.Keys.ToDictionary(k => k, k => file.Read(k));
    }

    public static double MaxDifference(Dictionary<string, Tensor> a, Dictionary<string, Tensor> b)
    {
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        return a.Keys.Max(k => (a[k] - b[k]).abs().max().item<float>());
    }

    public static Tensor Logits(CausalLM model, long[] ids)
    {
        using var noGrad = no_grad();
        return model.Forward(tensor(ids).unsqueeze(0));
    }
}
