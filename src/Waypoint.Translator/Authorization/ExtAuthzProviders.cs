using k8s;
using Waypoint.Translator.Model;

namespace Waypoint.Translator.Authorization;

/// <summary>
/// The ext_authz providers of one translation: the <c>extensionProviders</c> of the mesh config in the Istio root
/// namespace, compiled on first use. A CUSTOM policy's provider name resolves to a provider, or to the reason it cannot
/// (no mesh config, a mesh config that does not parse, no such provider, a provider with a bad field).
/// </summary>
internal sealed class ExtAuthzProviders
{
    private readonly MeshConfig? _mesh;
    private readonly string _expected;
    private readonly TranslatorOptions _options;
    private readonly Dictionary<string, CompiledExtAuthzProvider> _compiled = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    public ExtAuthzProviders(MeshConfig? mesh, TranslatorOptions options)
    {
        _mesh = mesh;
        _options = options;
        _expected = $"ConfigMap {options.IstioRootNamespace}/{MeshConfig.ConfigMapName}";
    }

    /// <summary>The mesh config of <paramref name="snapshot"/>: its <c>istio</c> ConfigMap in the root namespace, if any.</summary>
    public static MeshConfig? MeshOf(ClusterSnapshot snapshot, TranslatorOptions options) =>
        snapshot.MeshConfigMaps.FirstOrDefault(c => c.Metadata?.NamespaceProperty == options.IstioRootNamespace && c.Metadata?.Name == MeshConfig.ConfigMapName) is { } configMap
            ? MeshConfig.FromConfigMap(configMap)
            : null;

    /// <summary>
    /// Every provider of the mesh config a CUSTOM policy could ask (no problems), by name, with its <see cref="Find"/>
    /// key. Every HTTP chain carries their filters (off until a CUSTOM policy selects requests), so that a first CUSTOM
    /// policy changes only routes.
    /// </summary>
    public IReadOnlyList<(CompiledExtAuthzProvider Provider, string Key)> Usable()
    {
        if (_mesh is null || _mesh.Problem is not null)
        {
            return [];
        }

        var usable = new List<(CompiledExtAuthzProvider, string)>();
        foreach (var name in _mesh.ExtensionProviders.Keys.Order(StringComparer.Ordinal))
        {
            if (Find(name) is ({ Problems.Count: 0, Config: not null } provider, null, var key))
            {
                usable.Add((provider, key));
            }
        }

        return usable;
    }

    /// <summary>
    /// What a CUSTOM policy naming <paramref name="name"/> compiles against: the provider (with its own problems, if
    /// any) or a problem, and a key that changes whenever the outcome may (policies compiled against it are cached by it).
    /// </summary>
    public (CompiledExtAuthzProvider? Provider, string? Problem, string Key) Find(string name)
    {
        if (_mesh is null)
        {
            return (null, $"provider '{name}' is unknown: there is no mesh config ({_expected} not found)", "no-mesh");
        }

        if (_mesh.Problem is { } problem)
        {
            return (null, $"provider '{name}' is unknown: {problem}", "bad-mesh:" + problem);
        }

        if (!_mesh.ExtensionProviders.TryGetValue(name, out var provider))
        {
            return (null, $"provider '{name}' is not in the extensionProviders of {_mesh.Source}", "missing:" + _mesh.Source);
        }

        lock (_gate)
        {
            if (!_compiled.TryGetValue(name, out var compiled))
            {
                _compiled[name] = compiled = ExtAuthzProviderCompiler.Compile(provider, _options);
            }

            return (compiled, null, KubernetesJson.Serialize(new { provider.Source, provider.Index, provider.ParseProblem, provider.EnvoyExtAuthzHttp, provider.EnvoyExtAuthzGrpc, provider.Other }));
        }
    }
}
