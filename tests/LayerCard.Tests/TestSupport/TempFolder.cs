namespace LayerCard.Tests;

/// <summary>A fresh folder per test under the system temp folder, removed by Dispose, so tests never see each other's files.</summary>
public sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("layercard-tests-").FullName;

    /// <summary>The path of <paramref name="name"/> inside the folder (nothing is created).</summary>
    public string this[string name] => System.IO.Path.Combine(Path, name);

    /// <summary>Writes <paramref name="content"/> to <paramref name="name"/> inside the folder and returns its path.</summary>
    public string Write(string name, string content)
    {
        var file = this[name];
        System.IO.File.WriteAllText(file, content);
        return file;
    }

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
