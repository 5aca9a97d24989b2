using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Waypoint.Box.Apply;

/// <summary>
/// Server-side apply of multi-document YAML (<c>application/apply-patch+yaml</c>, <c>force=true</c>) under one field
/// manager. Kinds resolve to resources through API discovery (cached per group/version, refreshed on a miss so a CRD
/// applied a moment ago works). Each document stands alone: a refused one is reported with its source, index, object
/// and the API server's message, and the rest still apply. Every applied object carries the label
/// <c>waypoint.dev/applied-by=&lt;manager&gt;</c>; <see cref="PruneAsync"/> deletes those no longer in the last apply.
/// Not thread-safe: one apply or prune at a time (an apply may itself send up to <see cref="Parallelism"/> documents at once).
/// </summary>
public sealed class BoxApplier
{
    /// <summary>The label marking objects this applier owns.</summary>
    public const string AppliedByLabel = "waypoint.dev/applied-by";

    private static readonly TimeSpan DiscoveryRetryDelay = TimeSpan.FromMilliseconds(250);
    private const int DiscoveryRetries = 40;
    private readonly HttpClient _api;
    private readonly ConcurrentDictionary<string, IReadOnlyDictionary<string, ApiResource>> _discovery = new(StringComparer.Ordinal);
    private readonly HashSet<ApiResource> _seenResources = [];
    private readonly Lock _seenLock = new();
    private HashSet<ObjectKey> _lastApplied = [];

    /// <param name="apiServer">A client whose <see cref="HttpClient.BaseAddress"/> is the API server, with credentials.</param>
    /// <param name="fieldManager">The field manager; also the value of <see cref="AppliedByLabel"/> (a valid label value).</param>
    /// <param name="defaultNamespace">The namespace of namespaced objects that name none.</param>
    public BoxApplier(HttpClient apiServer, string fieldManager, string defaultNamespace = "default")
    {
        ArgumentNullException.ThrowIfNull(apiServer);
        if (apiServer.BaseAddress is null)
        {
            throw new ArgumentException("The HttpClient needs a BaseAddress (the API server).", nameof(apiServer));
        }

        if (string.IsNullOrEmpty(fieldManager) || fieldManager.Length > 63 || !fieldManager.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            || !char.IsAsciiLetterOrDigit(fieldManager[0]) || !char.IsAsciiLetterOrDigit(fieldManager[^1]))
        {
            throw new ArgumentException($"'{fieldManager}' is not usable as a field manager and label value (1-63 of [A-Za-z0-9-_.], alphanumeric at both ends).", nameof(fieldManager));
        }

        _api = apiServer;
        FieldManager = fieldManager;
        DefaultNamespace = defaultNamespace;
    }

    public string FieldManager { get; }

    public string DefaultNamespace { get; }

    /// <summary>
    /// How many documents of the same rank (Namespaces, then CRDs, then the rest: a rank starts once the one before
    /// it is done) are sent at once; 1 (the default) applies them one by one in order.
    /// </summary>
    public int Parallelism
    {
        get;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            field = value;
        }
    } = 1;

    /// <summary>Applies every YAML file of a folder (<c>*.yaml</c>, <c>*.yml</c>, recursively, in path order).</summary>
    public Task<ApplyReport> ApplyDirectoryAsync(string directory, CancellationToken cancellationToken) =>
        ApplyAsync(
            Directory.EnumerateFiles(directory, "*.*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal)
                .Select(YamlSource.FromFile),
            cancellationToken);

    /// <summary>Applies one multi-document YAML string.</summary>
    public Task<ApplyReport> ApplyYamlAsync(string yaml, string sourceName, CancellationToken cancellationToken) =>
        ApplyAsync([new YamlSource(sourceName, yaml)], cancellationToken);

    /// <summary>
    /// Applies every document of every source (Namespaces and CRDs first, the rest in order). The set of objects given
    /// here is what <see cref="PruneAsync"/> keeps.
    /// </summary>
    public async Task<ApplyReport> ApplyAsync(IEnumerable<YamlSource> sources, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sources);
        var results = new List<DocumentResult>();
        var documents = new List<ParsedDocument>();
        foreach (var source in sources)
        {
            documents.AddRange(Parse(source, results));
        }

        var present = new HashSet<ObjectKey>();
        var appliedCrd = false;
        foreach (var rank in documents.GroupBy(d => d.Reference.Kind switch { "Namespace" => 0, "CustomResourceDefinition" => 1, _ => 2 }).OrderBy(g => g.Key))
        {
            var waitForNewKinds = appliedCrd;
            var ranked = rank.ToList();
            var applied = new DocumentResult[ranked.Count];
            await Parallel.ForAsync(0, ranked.Count, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken }, async (i, ct) =>
                applied[i] = await ApplyDocumentAsync(ranked[i], waitForNewKinds, present, ct).ConfigureAwait(false)).ConfigureAwait(false);
            appliedCrd |= rank.Key == 1 && applied.Any(r => r.Applied);
            results.AddRange(applied);
        }

        _lastApplied = present;
        return new ApplyReport([.. results.OrderBy(r => r.Source, StringComparer.Ordinal).ThenBy(r => r.DocumentIndex)]);
    }

    /// <summary>
    /// Deletes the objects labelled with this manager (of every resource type it has applied) that the last
    /// <see cref="ApplyAsync"/> did not contain.
    /// </summary>
    public async Task<IReadOnlyList<PruneResult>> PruneAsync(CancellationToken cancellationToken)
    {
        var results = new List<PruneResult>();
        foreach (var resource in _seenResources.ToList())
        {
            var selector = Uri.EscapeDataString($"{AppliedByLabel}={FieldManager}");
            using var response = await _api.GetAsync($"{resource.CollectionPath(null)}?labelSelector={selector}", cancellationToken).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                results.Add(new PruneResult(new ObjectReference(resource.GroupVersion, resource.Kind, null, null), $"listing {resource.Plural} failed: {StatusMessage(response.StatusCode, body)}"));
                continue;
            }

            using var list = JsonDocument.Parse(body);
            foreach (var item in list.RootElement.GetProperty("items").EnumerateArray())
            {
                var metadata = item.GetProperty("metadata");
                var name = metadata.GetProperty("name").GetString()!;
                var ns = metadata.TryGetProperty("namespace", out var n) ? n.GetString() : null;
                var key = new ObjectKey(resource.GroupVersion, resource.Kind, ns ?? string.Empty, name);
                if (_lastApplied.Contains(key))
                {
                    continue;
                }

                var reference = new ObjectReference(resource.GroupVersion, resource.Kind, ns, name);
                using var deletion = await _api.DeleteAsync($"{resource.ObjectPath(ns, name)}?propagationPolicy=Background", cancellationToken).ConfigureAwait(false);
                results.Add(deletion.IsSuccessStatusCode || deletion.StatusCode == HttpStatusCode.NotFound
                    ? new PruneResult(reference, null)
                    : new PruneResult(reference, StatusMessage(deletion.StatusCode, await deletion.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false))));
            }
        }

        return results;
    }

    private async Task<DocumentResult> ApplyDocumentAsync(ParsedDocument document, bool waitForNewKinds, HashSet<ObjectKey> present, CancellationToken cancellationToken)
    {
        var reference = document.Reference;
        if (string.IsNullOrEmpty(reference.ApiVersion) || string.IsNullOrEmpty(reference.Kind) || string.IsNullOrEmpty(reference.Name))
        {
            return Failure(document, "the document needs apiVersion, kind and metadata.name");
        }

        var resource = await ResolveAsync(reference.ApiVersion, reference.Kind, waitForNewKinds, cancellationToken).ConfigureAwait(false);
        if (resource is null)
        {
            return Failure(document, $"the API server serves no kind {reference.Kind} in {reference.ApiVersion}");
        }

        var ns = resource.Namespaced ? (string.IsNullOrEmpty(reference.Namespace) ? DefaultNamespace : reference.Namespace) : null;
        var applied = reference with { Namespace = ns };
        lock (_seenLock)
        {
            present.Add(new ObjectKey(resource.GroupVersion, resource.Kind, ns ?? string.Empty, reference.Name));
            _seenResources.Add(resource);
        }

        var path = $"{resource.ObjectPath(ns, reference.Name)}?fieldManager={Uri.EscapeDataString(FieldManager)}&force=true";
        using var request = new HttpRequestMessage(HttpMethod.Patch, path)
        {
            Content = new StringContent(document.Yaml, Encoding.UTF8, "application/apply-patch+yaml"),
        };
        using var response = await _api.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            return new DocumentResult(document.Source, document.Index, applied, null);
        }

        var body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        return new DocumentResult(document.Source, document.Index, applied, StatusMessage(response.StatusCode, body), (int)response.StatusCode);
    }

    private async Task<ApiResource?> ResolveAsync(string apiVersion, string kind, bool waitForNewKinds, CancellationToken cancellationToken)
    {
        if (_discovery.TryGetValue(apiVersion, out var cached) && cached.TryGetValue(kind, out var hit))
        {
            return hit;
        }

        // A miss refreshes the group/version; a CRD applied in this run may take a moment to be served.
        for (var attempt = 0; ; attempt++)
        {
            var resources = await DiscoverAsync(apiVersion, cancellationToken).ConfigureAwait(false);
            if (resources is not null)
            {
                _discovery[apiVersion] = resources;
                if (resources.TryGetValue(kind, out var found))
                {
                    return found;
                }
            }

            if (!waitForNewKinds || attempt >= DiscoveryRetries)
            {
                return null;
            }

            await Task.Delay(DiscoveryRetryDelay, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<IReadOnlyDictionary<string, ApiResource>?> DiscoverAsync(string apiVersion, CancellationToken cancellationToken)
    {
        var path = apiVersion.Contains('/', StringComparison.Ordinal) ? $"/apis/{apiVersion}" : $"/api/{apiVersion}";
        using var response = await _api.GetAsync(path, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        using var list = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        var resources = new Dictionary<string, ApiResource>(StringComparer.Ordinal);
        foreach (var resource in list.RootElement.GetProperty("resources").EnumerateArray())
        {
            var name = resource.GetProperty("name").GetString()!;
            if (!name.Contains('/', StringComparison.Ordinal))
            {
                var kind = resource.GetProperty("kind").GetString()!;
                resources[kind] = new ApiResource(apiVersion, kind, name, resource.GetProperty("namespaced").GetBoolean());
            }
        }

        return resources;
    }

    private List<ParsedDocument> Parse(YamlSource source, List<DocumentResult> results)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(source.Yaml));
        }
        catch (YamlException ex)
        {
            results.Add(new DocumentResult(source.Name, 0, new ObjectReference(null, null, null, null), $"invalid YAML at line {ex.Start.Line}: {ex.Message}"));
            return [];
        }

        var documents = new List<ParsedDocument>();
        for (var index = 0; index < stream.Documents.Count; index++)
        {
            if (stream.Documents[index].RootNode is not YamlMappingNode root)
            {
                if (stream.Documents[index].RootNode is not YamlScalarNode { Value: null or "" })
                {
                    results.Add(new DocumentResult(source.Name, index, new ObjectReference(null, null, null, null), "the document is not a mapping"));
                }

                continue;
            }

            if (root.Children.Count == 0)
            {
                continue;
            }

            var metadata = Child(root, "metadata") as YamlMappingNode;
            var reference = new ObjectReference(Scalar(root, "apiVersion"), Scalar(root, "kind"), metadata is null ? null : Scalar(metadata, "namespace"), metadata is null ? null : Scalar(metadata, "name"));
            if (metadata is not null)
            {
                if (Child(metadata, "labels") is not YamlMappingNode labels)
                {
                    labels = [];
                    metadata.Children[new YamlScalarNode("labels")] = labels;
                }

                labels.Children[new YamlScalarNode(AppliedByLabel)] = new YamlScalarNode(FieldManager) { Style = ScalarStyle.DoubleQuoted };
            }

            var text = new StringWriter(CultureInfo.InvariantCulture);
            new YamlStream(new YamlDocument(root)).Save(text, assignAnchors: false);
            documents.Add(new ParsedDocument(source.Name, index, reference, text.ToString()));
        }

        return documents;
    }

    private static YamlNode? Child(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static string? Scalar(YamlMappingNode node, string key) => (Child(node, key) as YamlScalarNode)?.Value;

    private static DocumentResult Failure(ParsedDocument document, string error) =>
        new(document.Source, document.Index, document.Reference, error);

    private static string StatusMessage(HttpStatusCode status, string body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (json.RootElement.TryGetProperty("message", out var message))
            {
                return $"{(int)status} {message.GetString()}";
            }
        }
        catch (JsonException)
        {
        }

        return $"{(int)status} {body.Trim()}";
    }

    private sealed record ParsedDocument(string Source, int Index, ObjectReference Reference, string Yaml);

    private sealed record ObjectKey(string GroupVersion, string Kind, string Namespace, string Name);

    private sealed record ApiResource(string GroupVersion, string Kind, string Plural, bool Namespaced)
    {
        private string Root => GroupVersion.Contains('/', StringComparison.Ordinal) ? $"/apis/{GroupVersion}" : $"/api/{GroupVersion}";

        public string CollectionPath(string? ns) => ns is null ? $"{Root}/{Plural}" : $"{Root}/namespaces/{Uri.EscapeDataString(ns)}/{Plural}";

        public string ObjectPath(string? ns, string name) => $"{CollectionPath(Namespaced ? ns : null)}/{Uri.EscapeDataString(name)}";
    }
}
