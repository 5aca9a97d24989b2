using System.Text.Json;
using Waypoint.Box.Apply;

namespace Waypoint.Box.Apply.Tests;

public sealed class CrdEstablishmentTests
{
    [Fact]
    public void Only_CRDs_with_Established_True_count_and_a_CRD_missing_from_the_list_is_not_established()
    {
        using var list = JsonDocument.Parse("""
            {"items": [
              {"metadata": {"name": "gateways.gateway.networking.k8s.io"},
               "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]}},
              {"metadata": {"name": "httproutes.gateway.networking.k8s.io"},
               "status": {"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "False"}]}},
              {"metadata": {"name": "wasmplugins.extensions.istio.io"}},
              {"metadata": {"name": "unrelated.example.com"}, "status": {"conditions": [{"type": "Established", "status": "True"}]}}
            ]}
            """);
        var names = new HashSet<string>(StringComparer.Ordinal)
        {
            "wasmplugins.extensions.istio.io", "httproutes.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io", "trafficpolicies.gateway.kgateway.dev",
        };

        Assert.Equal(
            ["httproutes.gateway.networking.k8s.io", "trafficpolicies.gateway.kgateway.dev", "wasmplugins.extensions.istio.io"],
            CrdEstablishment.NotEstablished(list.RootElement, names));
        Assert.Empty(CrdEstablishment.NotEstablished(list.RootElement, new HashSet<string>(StringComparer.Ordinal) { "gateways.gateway.networking.k8s.io" }));
    }

    [Fact]
    public void A_folder_names_its_own_YAML_and_JSON_files_in_order_like_kubectl_apply_f_and_a_file_names_itself()
    {
        var folder = Directory.CreateTempSubdirectory("crd-files-").FullName;
        try
        {
            foreach (var file in (string[])["b.yaml", "a.json", "c.yml", "notes.txt", "sub/d.yaml"])
            {
                Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(folder, file))!);
                File.WriteAllText(Path.Combine(folder, file), "{}");
            }

            Assert.Equal(["a.json", "b.yaml", "c.yml"], CrdEstablishment.Files(folder).Select(Path.GetFileName));
            Assert.Equal([Path.Combine(folder, "notes.txt")], CrdEstablishment.Files(Path.Combine(folder, "notes.txt")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
