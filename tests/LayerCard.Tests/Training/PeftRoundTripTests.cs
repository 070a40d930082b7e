using System.Text.Json.Nodes;
using LayerCard.Lora;
using LayerCard.Models;
using LayerCard.Tests.Models;
using static TorchSharp.torch;
using static LayerCard.Tests.Training.TrainingFixtures;

namespace LayerCard.Tests.Training;

[Collection("training")]
public class PeftRoundTripTests
{
    private static readonly long[] Ids = [5, 17, 33, 2, 61, 40, 8, 90, 12];

    [Theory]
    [InlineData("Qwen3ForCausalLM", "q_proj,v_proj,down_proj")]
    [InlineData("LlamaForCausalLM", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj")]
    [InlineData("GPT2LMHeadModel", "attn.c_attn,mlp.c_proj")]
    public void ExportImportAndMergeKeepTheLogits(string architecture, string targets)
    {
        using var folder = new TempFolder();
        var modelDir = TinyModel(folder, architecture);
        var adapterDir = folder["adapter"];
        Tensor adapted;
        using (var loaded = ModelLoader.Load(modelDir, null, CPU))
        {
            using var lora = LoraModel.Inject(loaded.Model, new LoraConfig(4, 8, 0, false, targets.Split(','), [1, 2]), seed: 7);
            using (no_grad()) foreach (var a in lora.Adapters.Values) a.B.normal_(0, 0.05);
            adapted = Logits(loaded.Model, Ids);
            PeftAdapter.Save(adapterDir, lora, "tiny-base");
        }

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(adapterDir, "adapter_config.json")))!.AsObject();
        Assert.Equal("LORA", config["peft_type"]!.GetValue<string>());
        Assert.Equal("CAUSAL_LM", config["task_type"]!.GetValue<string>());
        Assert.Equal(4, config["r"]!.GetValue<int>());
        Assert.Equal(8, config["lora_alpha"]!.GetValue<double>());
        Assert.Equal([1, 2], config["layers_to_transform"]!.AsArray().Select(n => n!.GetValue<int>()));
        Assert.Equal(architecture == "GPT2LMHeadModel", config["fan_in_fan_out"]!.GetValue<bool>());
        Assert.Equal(architecture == "GPT2LMHeadModel" ? "h" : "layers", config["layers_pattern"]!.GetValue<string>());
        Assert.Equal("none", config["bias"]!.GetValue<string>());
        Assert.Equal("tiny-base", config["base_model_name_or_path"]!.GetValue<string>());

        var tensors = ReadAll(Path.Combine(adapterDir, "adapter_model.safetensors"));
        var first = architecture == "GPT2LMHeadModel" ? "base_model.model.transformer.h.1.attn.c_attn" : "base_model.model.model.layers.1.self_attn.q_proj";
        Assert.Equal(new long[] { 4, 32 }, tensors[first + ".lora_A.weight"].shape);
        Assert.Equal(architecture == "GPT2LMHeadModel" ? new long[] { 96, 4 } : new long[] { 32, 4 }, tensors[first + ".lora_B.weight"].shape);
        Assert.Equal(targets.Split(',').Length * 2 * 2, tensors.Count);

        using (var reloaded = ModelLoader.Load(modelDir, null, CPU))
        using (PeftAdapter.Load(adapterDir, reloaded.Model))
            TensorAssert.Close(adapted, Logits(reloaded.Model, Ids), 1e-7);

        var (code, _, err) = RunCli("export", "--model", modelDir, "--adapter", adapterDir, "--merged", folder["merged"]);
        Assert.True(code == 0, err);
        using var merged = ModelLoader.Load(folder["merged"], null, CPU);
        TensorAssert.Close(adapted, Logits(merged.Model, Ids), 1e-5);
    }

    [Fact]
    public void Llama2cMergedExportLoadsAsAHuggingFaceLlama()
    {
        using var folder = new TempFolder();
        var ids = new long[] { 1, 403, 407, 261, 378, 10, 55 };
        Tensor original;
        using (var loaded = ModelLoader.Load("stories260K", null, CPU))
        {
            original = Logits(loaded.Model, ids);
            using var lora = LoraModel.Inject(loaded.Model, new LoraConfig(2, 4, 0, false, ["q_proj", "k_proj"], [0, 4]), 1);
            PeftAdapter.Save(folder["adapter"], lora, "stories260K");
        }
        var (code, _, err) = RunCli("export", "--model", "stories260K", "--adapter", folder["adapter"], "--merged", folder["hf"]);
        Assert.True(code == 0, err);
        using var hf = ModelLoader.Load(folder["hf"], null, CPU);
        Assert.Equal("LlamaForCausalLM", hf.Config.Architecture);
        Assert.False(hf.Config.InterleavedRope);
        TensorAssert.Close(original, Logits(hf.Model, ids), 1e-5);
        Assert.NotNull(hf.Tokenizer);
    }

    [Fact]
    public void ExportRefusesToOverwriteItsInput()
    {
        using var folder = new TempFolder();
        var modelDir = TinyModel(folder);
        using (var loaded = ModelLoader.Load(modelDir, null, CPU))
        using (var lora = LoraModel.Inject(loaded.Model, new LoraConfig(2, 4, 0, false, ["q_proj"], [0]), 1))
            PeftAdapter.Save(folder["adapter"], lora, "x");
        var (code, _, err) = RunCli("export", "--model", modelDir, "--adapter", folder["adapter"], "--merged", modelDir);
        Assert.Equal(2, code);
        Assert.Contains("would overwrite an input", err);
    }
}
