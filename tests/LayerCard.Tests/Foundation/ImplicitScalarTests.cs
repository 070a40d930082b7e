using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace LayerCard.Tests.Foundation;

/// <summary>
/// TorchSharp turns a number passed where a <c>Scalar</c> is expected (<c>x.mul(0.5)</c>, <c>t * 2</c>,
/// <c>add_(g, alpha: 1 - beta)</c>) into a Scalar object that nothing references once its handle has been read. If a
/// garbage collection runs during the native call, the Scalar's finalizer frees the scalar libtorch is reading
/// ("Unknown scalar type" or "INTERNAL ASSERT FAILED at c10/core/Scalar.h"; seen once in a two-hour stories12L study,
/// and reproduced at will with a thread that collects in a loop). Product code therefore passes scalars it owns
/// (<see cref="LayerCard.Common.OwnedScalars"/>, or <c>using var s = x.ToScalar();</c>). This test compiles the product's
/// sources with Roslyn and names every conversion of a number to a TorchSharp Scalar left in them, and every
/// <c>ToScalar()</c> whose result no <c>using</c> or <c>static readonly</c> field owns.
/// </summary>
public class ImplicitScalarTests
{
    [Theory]
    [InlineData("LayerCard")]
    [InlineData("LayerCard.Bench")]
    [InlineData("LayerCard.Cli")]
    public void NoProductCodeConvertsANumberToATorchScalar(string project)
    {
        var folder = Path.Combine(RepositoryRoot(), "src", project);
        var options = new CSharpParseOptions(LanguageVersion.Preview);
        var trees = Directory.GetFiles(folder, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), options, path: f))
            .Append(CSharpSyntaxTree.ParseText(ImplicitUsings, options))
            .ToList();
        Assert.True(trees.Count > 2, $"no sources under {folder}");
        // The test's own loaded assemblies (TorchSharp and the framework among them), less the project compiled here.
        var ownName = project == "LayerCard" ? "LayerCard.Core" : project;
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileNameWithoutExtension(p) != ownName && Path.GetFileNameWithoutExtension(p) != "layercard")
            .Select(p => MetadataReference.CreateFromFile(p));
        var compilation = CSharpCompilation.Create(ownName, trees, references,
            new CSharpCompilationOptions(project == "LayerCard.Cli" ? OutputKind.ConsoleApplication : OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true));
        var scalar = compilation.GetTypeByMetadataName("TorchSharp.Scalar");
        Assert.NotNull(scalar);
        // A source that does not compile here would hide its conversions: the compilation must be clean, but for the
        // partial methods that source generators ([GeneratedRegex], [LibraryImport]) implement in a real build (CS8795).
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error && d.Id != "CS8795").Take(5).ToList();
        Assert.True(errors.Count == 0, string.Join("\n", errors));

        var found = new List<string>();
        foreach (var tree in trees)
        {
            var model = compilation.GetSemanticModel(tree);
            foreach (var expression in tree.GetRoot().DescendantNodes().OfType<ExpressionSyntax>())
            {
                var conversion = model.GetConversion(expression);
                bool converted = conversion.IsUserDefined && SymbolEqualityComparer.Default.Equals(conversion.MethodSymbol?.ContainingType, scalar);
                // x.ToScalar() passed straight into a call is the same unowned scalar, spelled out.
                bool unowned = expression is InvocationExpressionSyntax call && model.GetSymbolInfo(call).Symbol is IMethodSymbol { Name: "ToScalar" } method
                    && SymbolEqualityComparer.Default.Equals(method.ReturnType, scalar) && !Owned(call);
                // TorchSharp's own unowned scalars (found with a collecting thread): add/add_ without an alpha pass alpha 1,
                // square() is pow(2), the + operator ends in add without an alpha, and - with a number makes its scalar
                // unowned. (* and / by a number do too at times, in about 35 places not flagged here: README.)
                bool torchSharpMakesOne = expression switch
                {
                    InvocationExpressionSyntax invocation => model.GetSymbolInfo(invocation).Symbol is IMethodSymbol m && InTorchSharp(m)
                        && (m.Name is "add" or "add_" && m.Parameters.All(p => p.Name != "alpha") || m.Name is "square" or "square_"),
                    BinaryExpressionSyntax binary => model.GetSymbolInfo(binary).Symbol is IMethodSymbol op && InTorchSharp(op)
                        && (op.Name == "op_Addition" || op.Name == "op_Subtraction" && op.Parameters.Any(p => p.Type.Name != "Tensor")),
                    AssignmentExpressionSyntax assignment => model.GetSymbolInfo(assignment).Symbol is IMethodSymbol op && InTorchSharp(op) && op.Name == "op_Addition",
                    _ => false,
                };
                if (converted || unowned || torchSharpMakesOne)
                    found.Add($"{Path.GetRelativePath(folder, tree.FilePath)}:{expression.GetLocation().GetLineSpan().StartLinePosition.Line + 1}: {expression}");
            }
        }
        Assert.True(found.Count == 0, $"{found.Count} numbers converted to a TorchSharp Scalar nobody owns:\n" + string.Join("\n", found.Distinct()));
    }

    private static bool InTorchSharp(IMethodSymbol method) => method.ContainingAssembly?.Name == "TorchSharp";

    /// <summary>
    /// Whether <paramref name="call"/> initialises a variable of a <c>using</c> declaration or statement (disposed at its
    /// end) or a <c>static readonly</c> field (alive as long as the process).
    /// </summary>
    private static bool Owned(InvocationExpressionSyntax call) =>
        call.Parent is EqualsValueClauseSyntax { Parent: VariableDeclaratorSyntax { Parent: VariableDeclarationSyntax declaration } }
        && (declaration.Parent is LocalDeclarationStatementSyntax { UsingKeyword.RawKind: not 0 } || declaration.Parent is UsingStatementSyntax
            || declaration.Parent is FieldDeclarationSyntax field && field.Modifiers.Any(SyntaxKind.StaticKeyword) && field.Modifiers.Any(SyntaxKind.ReadOnlyKeyword));

    private const string ImplicitUsings = """
        global using System;
        global using System.Collections.Generic;
        global using System.IO;
        global using System.Linq;
        global using System.Net.Http;
        global using System.Threading;
        global using System.Threading.Tasks;
        """;

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "LayerCard.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no LayerCard.sln above {AppContext.BaseDirectory}");
    }
}
