using LayerCard.Data;
using LayerCard.Evaluation;
using LayerCard.Models;
using LayerCard.Tests.Data;
using LayerCard.Tests.Foundation;
using LayerCard.Tests.Models;
using static LayerCard.Tests.Corpus.TrainingCorpusFiles;
using static TorchSharp.torch;

namespace LayerCard.Tests.Evaluation;

/// <summary>Prompts too long for the maximum length or the model's context: dropped and counted, or cut from the left, in every metric.</summary>
public sealed class LongPromptEvaluationTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private const int X = Tokenization.IgnoreLabel;

    private static int T(char c) => c + FakeTokenizer.Offset;

    // A model whose embedding covers FakeTokenizer's 259 ids, with a context of 16 positions.
    private static CausalLM ShortContextModel()
    {
        var config = TinyModels.Llama(vocab: 260) with { MaxPositions = 16 };
        return TinyModels.Build(config, TinyModels.RandomWeights(config, seed: 5));
    }

    private static readonly string LongPrompt = new string('q', 30) + "?";

    [Fact]
    public void GenerationPromptsSkipDropsOnlyPromptsWithoutRoomForANewToken()
    {
        var prompts = new GenerationPrompts(new FakeTokenizer(), context: 10, maxNewTokens: 4, LongPromptPolicy.Skip);
        Assert.Equal([1, .. "abcdefgh".Select(T)], prompts.Fit("abcdefgh")!); // BOS + 8 leaves one position
        Assert.Null(prompts.Fit("abcdefghi"));
        Assert.Equal(1, prompts.Skipped);
        Assert.Equal(0, prompts.Cut);
        Assert.Equal("2 prompts, 1 dropped (prompt leaves no room for a new token in the model's context of 10)", prompts.Summary);
    }

    [Fact]
    public void GenerationPromptsTruncateLeftLeaveRoomForTheNewTokensAndKeepBos()
    {
        var prompts = new GenerationPrompts(new FakeTokenizer(), context: 10, maxNewTokens: 4, LongPromptPolicy.TruncateLeft);
        Assert.Equal([1, .. "defgh".Select(T)], prompts.Fit("abcdefgh")!);
        Assert.Equal([1, .. "abc".Select(T)], prompts.Fit("abc")!);
        Assert.Equal([1, T('z')], new GenerationPrompts(new FakeTokenizer(), 10, 40, LongPromptPolicy.TruncateLeft).Fit("xyz")!); // the last token stays
        Assert.Equal(1, prompts.Cut);
        Assert.Equal(0, prompts.Skipped);
        Assert.Equal("2 prompts, 1 prompt cut from the left (room for 4 new tokens in the model's context of 10)", prompts.Summary);
        // A model without a context limit keeps every prompt whole.
        Assert.Equal(9, new GenerationPrompts(new FakeTokenizer(), null, 4, LongPromptPolicy.TruncateLeft).Fit("abcdefgh")!.Length);
    }

    [Fact]
    public void ExactMatchSkipsOrCutsAPromptLongerThanTheContext()
    {
        using var scope = NewDisposeScope();
        using var model = ShortContextModel();
        var data = new TaskDataset("mem.jsonl", DataFormat.Gsm8k,
            [new Example("1+1?", "#### 2"), new Example(LongPrompt, "#### 5"), new Example("2+2?", "#### 4")], null, null, "hash");

        var skipped = TaskEvaluation.ExactMatch(model, new FakeTokenizer(), data, maxNewTokens: 4, CPU, LongPromptPolicy.Skip);
        Assert.Equal(2, skipped.Examples);
        Assert.Equal(1, skipped.Skipped);
        Assert.Equal(0, skipped.PromptsCut);
        Assert.Equal("3 prompts, 1 dropped (prompt leaves no room for a new token in the model's context of 16)", skipped.DataSummary);

        var cut = TaskEvaluation.ExactMatch(model, new FakeTokenizer(), data, maxNewTokens: 4, CPU, LongPromptPolicy.TruncateLeft);
        Assert.Equal(3, cut.Examples);
        Assert.Equal(0, cut.Skipped);
        Assert.Equal(1, cut.PromptsCut);
        Assert.StartsWith("3 prompts, 1 prompt cut from the left", cut.DataSummary);
    }

    [Fact]
    public void BleuSkipsOrCutsAnInputWhosePromptIsLongerThanTheContext()
    {
        using var scope = NewDisposeScope();
        using var model = ShortContextModel();
        var data = new TaskDataset("mem.txt", DataFormat.E2e,
            [new Example("a=b", " x", Group: "a=b"), new Example("a=b", " y", Group: "a=b"), new Example(LongPrompt, " z", Group: LongPrompt), new Example("c=d", " w", Group: "c=d")],
            null, null, "hash");
        var skipped = TaskEvaluation.Bleu(model, new FakeTokenizer(), data, 4, CPU, LongPromptPolicy.Skip);
        Assert.Equal((2, 1, 0), (skipped.Examples, skipped.Skipped, skipped.PromptsCut));
        var cut = TaskEvaluation.Bleu(model, new FakeTokenizer(), data, 4, CPU, LongPromptPolicy.TruncateLeft);
        Assert.Equal((3, 0, 1), (cut.Examples, cut.Skipped, cut.PromptsCut));
    }

    [Fact]
    public void AccuracySkipsOrCutsLongPromptsAndScoresEveryLabelAfterTheSameCut()
    {
        using var scope = NewDisposeScope();
        using var model = ShortContextModel();
        string[] labels = ["no", "yess"];
        var longPrompts = Enumerable.Range(0, 6).Select(i => new string((char)('a' + i), 12) + "hijklmn" + (char)('o' + i)).ToList();
        TaskDataset Data(IEnumerable<string> prompts) => new("mem.tsv", DataFormat.Classification,
            prompts.Select((p, i) => new Example(p, " " + labels[i % 2], i % 2)).ToList(), null, labels, "hash");
        var shortPrompts = new[] { "abc", "def" };

        var skipped = TaskEvaluation.Accuracy(model, new FakeTokenizer(), Data([.. shortPrompts, longPrompts[0]]), 16, 4, CPU, LongPromptPolicy.Skip);
        Assert.Equal((2, 1, 0), (skipped.Examples, skipped.Skipped, skipped.PromptsCut));
        Assert.Equal("3 labelled examples, 1 dropped (prompt longer than the maximum length 16)", skipped.DataSummary);

        var cut = TaskEvaluation.Accuracy(model, new FakeTokenizer(), Data(longPrompts), 16, 4, CPU, LongPromptPolicy.TruncateLeft);
        Assert.Equal((6, 0, 6), (cut.Examples, cut.Skipped, cut.PromptsCut));
        Assert.Equal("6 labelled examples, 6 prompts cut from the left", cut.DataSummary);

        // " yess" + EOS leaves 16 - 1 - 6 = 9 prompt tokens, " no" + EOS would leave 11: both words follow the same 9.
        var candidates = ClassificationScoring.Candidates(new FakeTokenizer(), Data([.. longPrompts, .. shortPrompts]), 16, LongPromptPolicy.TruncateLeft);
        Assert.Equal(8, candidates.Kept.Count);
        Assert.Equal(6, candidates.PromptsCut);
        for (int row = 0; row < candidates.Kept.Count; row++)
        {
            var prompt = candidates.Examples[candidates.Kept[row]].Prompt;
            int[] expectedPrompt = [1, .. (prompt.Length > 9 ? prompt[^9..] : prompt).Select(T)];
            for (int label = 0; label < labels.Length; label++)
            {
                var e = candidates.PerLabel[label].Examples[row];
                Assert.Equal(expectedPrompt, e.InputIds[..expectedPrompt.Length]);
                Assert.Equal((" " + labels[label]).Select(T).Append(2), e.InputIds[expectedPrompt.Length..]);
                // The labels point at the label word and EOS, from the last prompt token on.
                Assert.Equal([.. Enumerable.Repeat(X, expectedPrompt.Length - 1), .. (" " + labels[label]).Select(T), 2, X], e.Labels);
                Assert.Equal(prompt.Length - (expectedPrompt.Length - 1), e.PromptTokensCut);
            }
        }
    }

    private string[] EvalArgs(string policy) =>
    [
        "eval", "--model", TinyLm(_temp.Path), "--threads", "1", "--max-length", "32", "--long-prompts", policy,
        "--data", Lines(_temp.Path, "task.jsonl",
            PromptCompletion("after a comes", " b"), PromptCompletion(new string('x', 40) + " after c comes", " d"),
            PromptCompletion("after e comes", " f"), PromptCompletion("after g comes", " h")),
    ];

    [Fact]
    public void EvalWithSkipScoresTheRestAndSaysOneWasSkipped()
    {
        var result = CliRunner.Run(EvalArgs("skip"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("examples       3\n", result.Stdout.ReplaceLineEndings("\n"));
        Assert.Contains("skipped        1\n", result.Stdout.ReplaceLineEndings("\n"));
        Assert.Contains("4 examples, 0 truncated, 1 dropped (prompt longer than the maximum length 32)", result.Stdout);
        Assert.DoesNotContain("prompts cut", result.Stdout);
        Assert.Matches(@"loss\s+\d+\.\d{4}", result.Stdout);
    }

    [Fact]
    public void EvalWithTruncateLeftScoresEveryExample()
    {
        var result = CliRunner.Run(EvalArgs("truncate-left"));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Contains("examples       4\n", result.Stdout.ReplaceLineEndings("\n"));
        Assert.Contains("prompts cut    1 (from the left)", result.Stdout);
        Assert.Contains("4 examples, 1 prompt cut from the left, 0 truncated, 0 dropped", result.Stdout);
        Assert.DoesNotContain("skipped", result.Stdout);
    }
}
