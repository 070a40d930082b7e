using LayerCard.Data;
using LayerCard.Tokenizers;

namespace LayerCard.Recipes;

/// <summary>Reads the files a request names and makes the run's <see cref="TaskData"/> from them, once.</summary>
public static class RecipeData
{
    /// <summary>
    /// Loads <see cref="TaskRequest.Data"/> and splits it by <paramref name="plan"/>. <see cref="TaskRequest.EvalData"/>
    /// is the validation part when <paramref name="evalDataIsTest"/> is false (train, card) and the test part when true
    /// (run: the data every reported metric uses).
    /// </summary>
    public static TaskData Load(TaskRequest request, DataPlan plan, ITokenizer tokenizer, bool evalDataIsTest)
    {
        plan.Validate();
        var options = new DataOptions(request.Format, request.Labels);
        var data = DatasetLoader.Load(request.Data, options);
        var eval = request.EvalData is null ? null : DatasetLoader.Load(request.EvalData, options);
        return TaskData.Prepare(data, evalDataIsTest ? null : eval, evalDataIsTest ? eval : null, plan, tokenizer);
    }
}
