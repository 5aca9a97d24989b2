using System.Net;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Waypoint.Box.Assets;
using Waypoint.Box.Network;
using Waypoint.TestKit.Box;
using YamlDotNet.RepresentationModel;

namespace Waypoint.Box.Tests;

/// <summary>
/// A box without istiod whose API server also serves IPv6 ClusterIPs: the dual-stack golden case describes a
/// dual-stack cluster, and a single-stack API server refuses its RequireDualStack Service.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class DualStackBoxFixture : SharedBoxFixture
{
    public const string Ipv6ServiceCidr = "fd00:10:96::/112";

    protected override string[] Arguments =>
        ["--no-istiod", "--component-arg", $"kube-apiserver=--service-cluster-ip-range={BoxNetwork.ServiceCidr},{Ipv6ServiceCidr}"];
}

/// <summary>
/// Every translator golden input describes objects a real API server accepts (schemas, CEL rules, admission), so the
/// goldens test the translator on what a cluster can hold. Cases whose folder holds <c>INVALID-ON-PURPOSE</c> describe
/// refused objects on purpose and are left out. One box for all cases.
/// </summary>
[Collection(BoxCollectionDefinition.Name)]
[SupportedOSPlatform("linux")]
public sealed partial class TranslatorGoldenInputsTests(DualStackBoxFixture box) : IClassFixture<DualStackBoxFixture>
{
    public const string InvalidOnPurposeMarker = "INVALID-ON-PURPOSE";

    private static readonly string Testdata = Path.Combine(
        KubernetesAssets.FindRepositoryRoot() ?? throw new InvalidOperationException("The repository root (Waypoint.sln) was not found."),
        "tests", "Waypoint.Translator.Tests", "testdata");

    public static TheoryData<string> ValidCases() => new(Valid());

    [Fact]
    public void Nearly_every_golden_case_is_checked()
    {
        Assert.True(Valid().Count() >= 25, $"only {Valid().Count()} golden cases are checked against the API server");
        Assert.True(AllCases().Count(c => File.Exists(Path.Combine(Testdata, c, InvalidOnPurposeMarker))) <= 3, "more than three golden cases are marked " + InvalidOnPurposeMarker);
    }

    [Theory]
    [MemberData(nameof(ValidCases))]
    public async Task The_golden_input_passes_a_server_side_dry_run(string name)
    {
        var input = Path.Combine(Testdata, name, "input.yaml");
        var documents = Documents(File.ReadAllText(input)).ToList();
        Assert.NotEmpty(documents);
        await CreatePrerequisitesAsync(documents);

        var dryRun = await DryRunAsync(name, null, "-f", input);
        if (dryRun.Succeeded)
        {
            return;
        }

        // Name each refused document: apply them one at a time.
        var failures = new List<string>();
        foreach (var (document, index) in documents.Select((d, i) => (d, i)))
        {
            var one = await DryRunAsync(name, document.Yaml, "-f", "-");
            if (!one.Succeeded)
            {
                failures.Add($"document #{index} ({document.Kind} {document.Namespace}/{document.Name}): {one.Output.Trim()}");
            }
        }

        Assert.Fail($"The API server refused golden case '{name}' ({input}):\n" + (failures.Count > 0 ? string.Join("\n", failures) : dryRun.Output));
    }

    /// <summary>A dry run creates nothing: the namespaces the documents live in, and the ServiceAccounts their Pods run as
    /// (admission refuses a Pod whose account does not exist), are created for real.</summary>
    private async Task CreatePrerequisitesAsync(IReadOnlyList<Document> documents)
    {
        using var client = box.Connection.CreateKubernetesClient();
        foreach (var ns in documents.Select(d => d.Namespace).OfType<string>().Distinct())
        {
            await IgnoreConflictAsync(() => client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } }));
        }

        foreach (var (ns, account) in documents.Where(d => d.Kind == "Pod").Select(d => (d.Namespace ?? "default", d.ServiceAccount ?? "default")).Distinct())
        {
            await IgnoreConflictAsync(() => client.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = account } }, ns));
        }
    }

    private Task<ToolResult> DryRunAsync(string name, string? standardInput, params string[] arguments) =>
        BoxTools.KubectlAsync(box.Connection.State, standardInput, ["apply", "--server-side", "--dry-run=server", $"--field-manager=golden-{name}", .. arguments]);

    private static async Task IgnoreConflictAsync(Func<Task> create)
    {
        try
        {
            await create();
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Conflict)
        {
        }
    }

    private static IEnumerable<string> Valid() => AllCases().Where(c => !File.Exists(Path.Combine(Testdata, c, InvalidOnPurposeMarker)));

    private static IEnumerable<string> AllCases() =>
        Directory.GetDirectories(Testdata).Where(d => File.Exists(Path.Combine(d, "input.yaml"))).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal);

    private static IEnumerable<Document> Documents(string yaml)
    {
        foreach (var text in DocumentSeparator().Split(yaml))
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(text));
            if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            {
                continue;
            }

            var metadata = Child(root, "metadata") as YamlMappingNode;
            yield return new Document(
                text,
                Scalar(root, "kind"),
                metadata is null ? null : Scalar(metadata, "namespace"),
                metadata is null ? null : Scalar(metadata, "name"),
                Child(root, "spec") is YamlMappingNode spec ? Scalar(spec, "serviceAccountName") : null);
        }
    }

    private static YamlNode? Child(YamlMappingNode node, string key) => node.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    private static string? Scalar(YamlMappingNode node, string key) => (Child(node, key) as YamlScalarNode)?.Value;

    [GeneratedRegex(@"^---[ \t]*$", RegexOptions.Multiline)]
    private static partial Regex DocumentSeparator();

    private sealed record Document(string Yaml, string? Kind, string? Namespace, string? Name, string? ServiceAccount);
}
