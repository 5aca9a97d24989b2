namespace Waypoint.Box.Apply;

/// <summary>A YAML source to apply: its text and the name that errors cite (a file path, or e.g. "inline").</summary>
public sealed record YamlSource(string Name, string Yaml)
{
    public static YamlSource FromFile(string path) => new(path, File.ReadAllText(path));
}

/// <summary>The object a document describes (as far as it could be read).</summary>
public sealed record ObjectReference(string? ApiVersion, string? Kind, string? Namespace, string? Name)
{
    public override string ToString() =>
        $"{Kind ?? "?"} {(string.IsNullOrEmpty(Namespace) ? "" : Namespace + "/")}{Name ?? "?"} ({ApiVersion ?? "?"})";
}

/// <summary>What happened to one document: applied, or an error (with the API server's message when it refused it).</summary>
public sealed record DocumentResult(string Source, int DocumentIndex, ObjectReference Target, string? Error, int? StatusCode = null)
{
    public bool Applied => Error is null;

    public override string ToString() => Applied
        ? $"{Source}#{DocumentIndex}: {Target} applied"
        : $"{Source}#{DocumentIndex}: {Target}: {Error}";
}

/// <summary>Every document's result, in order.</summary>
public sealed record ApplyReport(IReadOnlyList<DocumentResult> Documents)
{
    public IEnumerable<DocumentResult> Failures => Documents.Where(d => !d.Applied);

    public bool Succeeded => Documents.All(d => d.Applied);
}

/// <summary>An object <see cref="BoxApplier.PruneAsync"/> deleted (or failed to delete).</summary>
public sealed record PruneResult(ObjectReference Target, string? Error)
{
    public bool Deleted => Error is null;
}
