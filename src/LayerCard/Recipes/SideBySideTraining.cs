using LayerCard.Data;
using LayerCard.Models;
using LayerCard.Training;
using static TorchSharp.torch;

namespace LayerCard.Recipes;

/// <summary>
/// Trains several placements on one loaded model side by side, so that their training times compare as a ratio
/// measured in one run: each run is cut into pieces (<see cref="TrainingOptions.PauseAfter"/>) and the pieces
/// alternate, in the order A B, B A, A B, B A for two runs, so a machine that slows down or speeds up while they train
/// weighs on every placement alike. One after the other, the all-layer run of a stories12L `run` once read 15 % slower
/// than in the run before it, enough to move card + planned from 0.80x to 0.98x. The checkpoint between pieces carries
/// the adapter, the optimizer's moments, the data position and the elapsed training time, so each run ends with the
/// adapter an uninterrupted run leaves and its wall time counts its own steps only.
/// </summary>
public static class SideBySideTraining
{
    /// <summary>Pieces each run is cut into (as many as it has steps, when fewer).</summary>
    public const int Pieces = 4;

    /// <summary>
    /// Trains every request (each with its own output folder and the same step count) in alternating pieces and
    /// returns their summaries in request order: wall time summed over the pieces' training loops, the mean step over
    /// the pieces (weighted by their steps) and the highest peak of any piece. Each run's run-summary.json is
    /// rewritten with those figures, and the checkpoint left between pieces is removed at the end.
    /// </summary>
    /// <param name="starting">Told (piece, request index, first step, last step) before each piece trains, for progress.</param>
    public static IReadOnlyList<RunSummary> Train(LoadedModel loaded, IReadOnlyList<TrainRequest> requests, TaskData data, Device device,
        Action<int, int, int, int>? starting = null, ITrainingObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(loaded);
        ArgumentNullException.ThrowIfNull(requests);
        if (requests.Count == 0) throw new ArgumentException("nothing to train", nameof(requests));
        int steps = requests[0].Training.Steps;
        if (requests.Any(r => r.Epochs.HasValue || r.Training.Steps != steps || r.Training.OutputDirectory is null))
            throw new ArgumentException("side-by-side runs need the same step count (not epochs) and an output folder each", nameof(requests));
        if (requests.Select(r => Path.GetFullPath(r.Training.OutputDirectory!)).Distinct().Count() != requests.Count)
            throw new ArgumentException("side-by-side runs need an output folder each", nameof(requests));

        var boundaries = Boundaries(steps, Pieces);
        var pieces = new List<RunSummary>[requests.Count];
        for (int i = 0; i < requests.Count; i++) pieces[i] = [];
        for (int piece = 0; piece < boundaries.Count; piece++)
        {
            int from = piece == 0 ? 0 : boundaries[piece - 1], to = boundaries[piece];
            foreach (int i in Order(requests.Count, piece))
            {
                starting?.Invoke(piece, i, from, to);
                var request = requests[i];
                // The caller announces each piece (starting), so the trainer's own "resumed from step" line would repeat it.
                var training = request.Training with { PauseAfter = to < steps ? to : null, Resume = piece > 0, QuietResume = true };
                // The base model's validation loss is measured once, by the first piece.
                pieces[i].Add(TrainRecipe.Train(loaded, request with { Training = training }, data, device, observer, piece > 0 ? pieces[i][0].BaseValidationLoss : null));
            }
        }

        var summaries = new List<RunSummary>(requests.Count);
        for (int i = 0; i < requests.Count; i++)
        {
            var done = pieces[i];
            var weighted = done.Select((s, p) => (s.MeanStepSeconds, Steps: boundaries[p] - (p == 0 ? 0 : boundaries[p - 1]))).ToList();
            // The last piece's summary has the whole run's figures (the later pieces were given the first one's base loss)
            // but its own mean step and peak: those come from all pieces.
            var summary = done[^1] with
            {
                MeanStepSeconds = weighted.Sum(w => w.MeanStepSeconds * w.Steps) / weighted.Sum(w => w.Steps),
                PeakMemoryBytes = done.Max(s => s.PeakMemoryBytes),
                ResumedFromStep = 0,
            };
            var folder = requests[i].Training.OutputDirectory!;
            summary.Save(folder);
            var checkpoint = TrainingCheckpoint.FolderIn(folder);
            if (Directory.Exists(checkpoint)) Directory.Delete(checkpoint, recursive: true);
            summaries.Add(summary);
        }
        return summaries;
    }

    /// <summary>The step each piece ends at: <paramref name="pieces"/> (at most <paramref name="steps"/>) nearly equal pieces, the last ending at <paramref name="steps"/>.</summary>
    public static IReadOnlyList<int> Boundaries(int steps, int pieces)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(pieces, 1);
        int count = Math.Min(pieces, steps);
        return Enumerable.Range(1, count).Select(k => (int)((long)steps * k / count)).ToList();
    }

    /// <summary>The runs' order in piece <paramref name="piece"/>: forwards in even pieces, backwards in odd ones (A B, B A, ...).</summary>
    public static IEnumerable<int> Order(int runs, int piece) =>
        piece % 2 == 0 ? Enumerable.Range(0, runs) : Enumerable.Range(0, runs).Reverse();
}
