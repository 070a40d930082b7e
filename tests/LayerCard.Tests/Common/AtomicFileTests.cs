using LayerCard.Common;
using LayerCard.Tests.Training;

namespace LayerCard.Tests.Common;

public class AtomicFileTests
{
    [Fact]
    public void AFolderReplacementInterruptedBetweenItsRenamesIsRecovered()
    {
        using var folder = new TempFolder();
        var target = folder["checkpoint"];
        AtomicFile.WriteDirectory(target, f => File.WriteAllText(Path.Combine(f, "state"), "1"));
        // The state a SIGKILL leaves between moving the old folder aside and moving the new one in.
        Directory.CreateDirectory(folder[".checkpoint.new"]);
        File.WriteAllText(Path.Combine(folder[".checkpoint.new"], "state"), "2");
        Directory.Move(target, folder[".checkpoint.old"]);
        AtomicFile.RecoverDirectory(target);
        Assert.Equal("2", File.ReadAllText(Path.Combine(target, "state")));
        Assert.False(Directory.Exists(folder[".checkpoint.old"]));
    }

    [Fact]
    public void AnInterruptedFillLeavesThePreviousFolder()
    {
        using var folder = new TempFolder();
        var target = folder["out"];
        AtomicFile.WriteDirectory(target, f => File.WriteAllText(Path.Combine(f, "a"), "old"));
        Assert.Throws<InvalidOperationException>(() => AtomicFile.WriteDirectory(target, f =>
        {
            File.WriteAllText(Path.Combine(f, "a"), "half");
            throw new InvalidOperationException("killed");
        }));
        Assert.Equal("old", File.ReadAllText(Path.Combine(target, "a")));
        AtomicFile.WriteDirectory(target, f => File.WriteAllText(Path.Combine(f, "a"), "new"));
        Assert.Equal("new", File.ReadAllText(Path.Combine(target, "a")));
        Assert.Equal(["out"], Directory.GetFileSystemEntries(folder.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void AFileIsReplacedWholeOrNotAtAll()
    {
        using var folder = new TempFolder();
        var path = folder["x.json"];
        AtomicFile.WriteAllText(path, "first");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s => { s.WriteByte(1); throw new InvalidOperationException(); }));
        Assert.Equal("first", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(folder.Path));
    }
}
