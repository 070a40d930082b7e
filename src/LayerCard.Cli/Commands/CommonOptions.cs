using System.CommandLine;
using LayerCard.Common;
using TorchSharp;

namespace LayerCard.Cli.Commands;

/// <summary>Options every compute command takes, and how they become a device and a thread count.</summary>
public sealed class CommonOptions
{
    /// <summary>--device: cpu (default) or cuda.</summary>
    public Option<string> Device { get; } = new("--device") { Description = "cpu or cuda (fp32 on CPU)", DefaultValueFactory = _ => "cpu" };
    /// <summary>--threads: CPU threads for tensor work; 0 keeps libtorch's default.</summary>
    public Option<int> Threads { get; } = new("--threads") { Description = "CPU threads for tensor work (0: libtorch's default)", DefaultValueFactory = _ => 0 };

    /// <summary>Adds --device and --threads to a command.</summary>
    public void AddTo(Command command)
    {
        command.Options.Add(Device);
        command.Options.Add(Threads);
    }

    /// <summary>Returns the device and sets the thread count; also makes glibc return freed tensor memory to the system. An unknown device, CUDA where it is unavailable, or negative threads is a <see cref="BadInputException"/>.</summary>
    public torch.Device Apply(ParseResult parsed)
    {
        var threads = parsed.GetValue(Threads);
        if (threads < 0) throw new BadInputException($"--threads must be 0 or positive, got {threads}");
        if (threads > 0) torch.set_num_threads(threads);
        var device = parsed.GetValue(Device)!.Trim().ToLowerInvariant();
        return device switch
        {
            "cpu" => torch.CPU,
            "cuda" when torch.cuda.is_available() => torch.CUDA,
            "cuda" => throw new BadInputException("--device cuda: CUDA is not available (this build has the CPU libtorch, or no GPU is present)"),
            _ => throw new BadInputException($"--device {device}: expected cpu or cuda"),
        };
    }
}
