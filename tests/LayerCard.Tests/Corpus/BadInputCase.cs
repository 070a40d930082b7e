using LayerCard.Common;

namespace LayerCard.Tests.Corpus;

/// <summary>
/// One way a user can hand LayerCard bad input. <see cref="Build"/> gets a fresh empty folder, writes whatever
/// files the case needs there, and returns the command-line arguments that feed them to `layercard`.
/// The refusal must be exit code <see cref="ExitCode"/> and one stderr line containing <see cref="Fragment"/>
/// and, when set, <see cref="FileName"/> (the file the user has to fix).
/// </summary>
public sealed record BadInputCase(string Name, Func<string, string[]> Build, string Fragment, string? FileName = null, int ExitCode = ExitCodes.BadInput)
{
    public override string ToString() => Name;
}

/// <summary>
/// Every case, grouped by theme. To add a theme (datasets, training options, ...) write a static class with a
/// `Cases` property like <see cref="OptionCases"/> and list it in <see cref="Themes"/>; the theory in
/// <see cref="BadInputCorpusTests"/> picks each case up as its own test, named "theme/case".
/// </summary>
public static class BadInputCorpus
{
    private static IEnumerable<(string Theme, IEnumerable<BadInputCase> Cases)> Themes =>
    [
        ("config", ModelConfigCases.Cases),
        ("weights", ModelWeightCases.Cases),
        ("tokenizer", TokenizerCases.Cases),
        ("options", OptionCases.Cases),
        ("data", DatasetCases.Cases),
        ("training-options", TrainingOptionCases.Cases),
        ("card-plan", CardPlanCases.Cases),
        ("run", RunCases.Cases),
    ];

    private static readonly Lazy<IReadOnlyList<BadInputCase>> AllLazy = new(() =>
        Themes.SelectMany(t => t.Cases.Select(c => c with { Name = $"{t.Theme}/{c.Name}" })).ToList());

    public static IReadOnlyList<BadInputCase> All => AllLazy.Value;

    public static BadInputCase Find(string name) => All.Single(c => c.Name == name);
}
