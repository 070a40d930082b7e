using System.Text.Json;
using LayerCard.Common;
using LayerCard.Lora;
using LayerCard.Models.Checkpoints;
using static TorchSharp.torch;

namespace LayerCard.Training;

/// <summary>What a resumed run needs besides the adapter and optimizer tensors.</summary>
public sealed record CheckpointState(int Step, long DataPosition, long Tokens, double ElapsedSeconds, string Fingerprint, IReadOnlyList<MetricPoint> Metrics);

/// <summary>
/// A checkpoint folder (adapter, optimizer moments, state) replaced atomically as a whole, so a run killed at
/// any moment leaves the previous complete checkpoint or the new one. Dropout is re-seeded from (seed, step)
/// at every step, so no random-generator state needs saving.
/// </summary>
public static class TrainingCheckpoint
{
    private const string AdapterFile = "adapter.safetensors";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string StateFile = "state.json";

    /// <summary>The checkpoint folder inside a run's output folder.</summary>
    public static string FolderIn(string outputDirectory) => Path.Combine(outputDirectory, "checkpoint");

    /// <summary>Writes adapters, optimizer moments and state atomically, so a kill mid-write leaves the previous checkpoint.</summary>
    public static void Save(string folder, LoraModel lora, AdamW optimizer, CheckpointState state)
    {
        AtomicFile.WriteDirectory(folder, temporary =>
        {
            var adapters = new Dictionary<string, Tensor>();
            foreach (var (path, adapter) in lora.Adapters)
            {
                adapters[path + ".lora_A"] = adapter.A.detach().cpu();
                adapters[path + ".lora_B"] = adapter.B.detach().cpu();
            }
            SafetensorsWriter.Write(Path.Combine(temporary, AdapterFile), adapters);
            SafetensorsWriter.Write(Path.Combine(temporary, OptimizerFile), optimizer.State().ToDictionary(p => p.Key, p => p.Value.cpu()));
            AtomicFile.WriteAllText(Path.Combine(temporary, StateFile), JsonSerializer.Serialize(state, new JsonSerializerOptions { WriteIndented = true }));
        });
    }

    /// <summary>Whether <paramref name="folder"/> holds a complete checkpoint.</summary>
    public static bool Exists(string folder)
    {
        AtomicFile.RecoverDirectory(folder);
        return File.Exists(Path.Combine(folder, StateFile));
    }

    /// <summary>The checkpoint's state, refused when it does not parse or belongs to a run with other settings.</summary>
    public static CheckpointState ReadState(string folder, string expectedFingerprint)
    {
        var statePath = Path.Combine(folder, StateFile);
        CheckpointState state;
        try
        {
            state = JsonSerializer.Deserialize<CheckpointState>(File.ReadAllText(statePath))
                ?? throw BadInputException.InFile(statePath, "empty checkpoint state");
        }
        catch (JsonException e)
        {
            throw BadInputException.InFile(statePath, $"not a valid checkpoint state ({e.Message})");
        }
        if (state.Fingerprint != expectedFingerprint)
            throw BadInputException.Naming("output_directory", n => $"{statePath}: this checkpoint belongs to a run with other settings (model, data, LoRA or training options); resume with the same settings or use a new {n("output_directory")}");
        return state;
    }

    /// <summary>Restores adapters and optimizer from a checkpoint of the same settings (<paramref name="expectedFingerprint"/>); another run's checkpoint is refused.</summary>
    public static CheckpointState Load(string folder, LoraModel lora, AdamW optimizer, string expectedFingerprint)
    {
        var state = ReadState(folder, expectedFingerprint);
        using (var adapters = SafetensorsFile.Open(Path.Combine(folder, AdapterFile)))
        using (no_grad())
        {
            foreach (var (path, adapter) in lora.Adapters)
            {
                using var scope = NewDisposeScope();
                adapter.A.copy_(adapters.Read(path + ".lora_A"));
                adapter.B.copy_(adapters.Read(path + ".lora_B"));
            }
        }
        using (var moments = SafetensorsFile.Open(Path.Combine(folder, OptimizerFile)))
            optimizer.Restore(name => moments.Read(name), state.Step);
        return state;
    }
}
