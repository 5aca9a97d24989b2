using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Waypoint.Box.Apply;
using Waypoint.Box.Assets;
using Waypoint.Box.Network;
using Waypoint.Box.Pki;

using Waypoint.TestKit.Box;

namespace Waypoint.Box.Tests;

[Collection(BoxCollectionDefinition.Name)]
public sealed class SharedBoxTests(SharedBoxFixture box) : IClassFixture<SharedBoxFixture>
{
    private static readonly string[] ComponentOrder = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "istiod"];

    private BoxState State => box.Connection.State;

    [Fact]
    public void The_box_reports_ready_with_every_component_running_in_its_own_network_namespace()
    {
        Assert.True(State.Ready);
        Assert.Equal(ComponentOrder, State.Components.Select(c => c.Name));
        var boxNamespace = BoxNetwork.NetworkNamespaceOf(State.UnshareProcessId);
        Assert.NotNull(boxNamespace);
        Assert.Equal(State.NetworkNamespaceId, boxNamespace);
        Assert.NotEqual(BoxNetwork.NetworkNamespaceOf(Environment.ProcessId), boxNamespace);
        foreach (var component in State.Components)
        {
            Assert.Equal(boxNamespace, BoxNetwork.NetworkNamespaceOf(component.ProcessId));
            Assert.True(File.Exists(component.LogPath), component.LogPath);
        }

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(State.WorkDirectory));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(State.PkiDirectory, "ca.key")));
    }

    [Fact]
    public void The_API_server_certificate_names_every_address_its_clients_use()
    {
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Path.Combine(State.PkiDirectory, "kube-apiserver.crt"));
        foreach (var name in (string[])["127.0.0.1", "10.96.0.1", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"])
        {
            Assert.True(certificate.MatchesHostname(name), name);
        }
    }

    [Fact]
    public async Task The_admin_kubeconfig_lists_namespaces_through_the_namespace_socket_factory()
    {
        using var client = box.Connection.CreateKubernetesClient();
        var namespaces = await client.CoreV1.ListNamespaceAsync();
        Assert.Contains(namespaces.Items, n => n.Metadata.Name == "kube-system");
        Assert.Contains(namespaces.Items, n => n.Metadata.Name == "istio-system");
    }

    [Fact]
    public async Task The_API_server_is_unreachable_from_the_host_network_namespace()
    {
        // The box's 127.0.0.1:6443 is its own: from here (outside) nothing of it answers, or something else does.
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        var error = await Record.ExceptionAsync(() => socket.ConnectAsync(IPAddress.Loopback, BoxPorts.ApiServer));
        if (error is null)
        {
            Assert.Fail("Something listens on the host's 127.0.0.1:6443: the box leaked out of its namespace, or another server runs there.");
        }

        Assert.IsType<SocketException>(error);
    }

    [Fact]
    public async Task A_listen_socket_made_by_the_factory_binds_the_node_IP_and_a_Service_VIP_inside_the_box()
    {
        var network = box.Connection.Network;
        using var onNode = network.CreateListenSocket(new IPEndPoint(BoxNetwork.NodeIp, 18080));
        using var onVip = network.CreateListenSocket(new IPEndPoint(IPAddress.Parse("10.96.7.7"), 18080));
        using var client = await network.ConnectAsync(new IPEndPoint(IPAddress.Parse("10.96.7.7"), 18080), CancellationToken.None);
        using var accepted = await onVip.AcceptAsync();
        await client.SendAsync(Encoding.ASCII.GetBytes("ping"));
        var buffer = new byte[4];
        Assert.Equal(4, await accepted.ReceiveAsync(buffer));
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer));

        // The host's namespace has no such address: the same bind here fails.
        using var outside = new Socket(SocketType.Stream, ProtocolType.Tcp);
        Assert.Throws<SocketException>(() => outside.Bind(new IPEndPoint(BoxNetwork.NodeIp, 18080)));
    }

    [Fact]
    public async Task A_TokenRequest_token_authenticates_as_its_ServiceAccount_and_RBAC_is_enforced()
    {
        using var admin = box.Connection.CreateKubernetesClient();
        const string ns = "token-test";
        await admin.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ns } });
        await admin.CoreV1.CreateNamespacedServiceAccountAsync(new V1ServiceAccount { Metadata = new V1ObjectMeta { Name = "reader" } }, ns);
        var token = await admin.CoreV1.CreateNamespacedServiceAccountTokenAsync(
            new Authenticationv1TokenRequest { Spec = new V1TokenRequestSpec { Audiences = ["https://kubernetes.default.svc.cluster.local"], ExpirationSeconds = 600 } },
            "reader", ns);

        var kubeconfig = Kubeconfig.WriteToken(Path.Combine(box.Process.Directory, "reader.kubeconfig"), box.Connection.ApiServerUrl, State.CaCertificatePath, "reader", token.Status.Token);
        using var reader = box.Connection.CreateKubernetesClient(kubeconfig);
        var review = await reader.AuthenticationV1.CreateSelfSubjectReviewAsync(new V1SelfSubjectReview());
        Assert.Equal($"system:serviceaccount:{ns}:reader", review.Status.UserInfo.Username);

        var forbidden = await Assert.ThrowsAsync<HttpOperationException>(() => reader.CoreV1.ListNamespacedPodAsync(ns));
        Assert.Equal(HttpStatusCode.Forbidden, forbidden.Response.StatusCode);

        await admin.RbacAuthorizationV1.CreateNamespacedRoleAsync(new V1Role
        {
            Metadata = new V1ObjectMeta { Name = "pod-reader" },
            Rules = [new V1PolicyRule { ApiGroups = [""], Resources = ["pods"], Verbs = ["list"] }],
        }, ns);
        await admin.RbacAuthorizationV1.CreateNamespacedRoleBindingAsync(new V1RoleBinding
        {
            Metadata = new V1ObjectMeta { Name = "pod-reader" },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = "pod-reader" },
            Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = "reader", NamespaceProperty = ns }],
        }, ns);

        // The RBAC authorizer reads bindings from an informer: the grant shows up a moment later.
        var allowed = await Eventually(async () =>
        {
            try
            {
                await reader.CoreV1.ListNamespacedPodAsync(ns);
                return true;
            }
            catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.Forbidden)
            {
                return false;
            }
        });
        Assert.True(allowed, "The RoleBinding never took effect.");
        var stillForbidden = await Assert.ThrowsAsync<HttpOperationException>(() => reader.CoreV1.ListNamespacedSecretAsync(ns));
        Assert.Equal(HttpStatusCode.Forbidden, stillForbidden.Response.StatusCode);
    }

    [Fact]
    public async Task Kubectl_server_side_dry_run_of_the_install_manifests_succeeds()
    {
        var root = KubernetesAssets.FindRepositoryRoot()!;
        var install = Path.Combine(root, "manifests", "install");
        // A dry run creates no namespace, so the namespace the other objects live in is applied for real first.
        var (code, output) = await KubectlAsync("apply", "--server-side", "-f", Path.Combine(install, "namespace.yaml"));
        Assert.True(code == 0, output);
        (code, output) = await KubectlAsync("apply", "--server-side", "--dry-run=server", "-f", install);
        Assert.True(code == 0, output);
        Assert.Contains("gatewayclass.gateway.networking.k8s.io/kgateway-waypoint serverside-applied (server dry run)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_applier_reports_a_rejected_document_applies_the_others_and_prunes_what_is_gone()
    {
        using var http = box.Connection.CreateAdminHttpClient();
        var applier = new BoxApplier(http, "box-tests");
        const string first = """
            apiVersion: v1
            kind: Namespace
            metadata: {name: applier-test}
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: keep, namespace: applier-test}
            data: {replicas: "1"}
            """;
        const string second = """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: drop, namespace: applier-test}
            data: {a: b}
            ---
            apiVersion: gateway.networking.k8s.io/v1
            kind: GatewayClass
            metadata: {name: too-long}
            spec:
              controllerName: example.com/controller
              description: This description is far longer than the sixty-four bytes the CRD allows for it.
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: web, namespace: applier-test}
            spec:
              ports: [{port: 80, targetPort: 8080}]
            """;
        var report = await applier.ApplyAsync([new YamlSource("first.yaml", first), new YamlSource("second.yaml", second)], CancellationToken.None);

        var failure = Assert.Single(report.Failures);
        Assert.Equal("second.yaml", failure.Source);
        Assert.Equal(1, failure.DocumentIndex);
        Assert.Equal(("GatewayClass", "too-long"), (failure.Target.Kind, failure.Target.Name));
        Assert.Equal(422, failure.StatusCode);
        Assert.Contains("spec.description", failure.Error, StringComparison.Ordinal);
        Assert.Contains("second.yaml#1: GatewayClass too-long", failure.ToString(), StringComparison.Ordinal);
        Assert.Equal(4, report.Documents.Count(d => d.Applied));

        using var client = box.Connection.CreateKubernetesClient();
        var keep = await client.CoreV1.ReadNamespacedConfigMapAsync("keep", "applier-test");
        Assert.Equal("1", keep.Data["replicas"]);
        Assert.Equal("box-tests", keep.Metadata.Labels[BoxApplier.AppliedByLabel]);
        Assert.Contains(keep.Metadata.ManagedFields, f => f.Manager == "box-tests" && f.Operation == "Apply");
        var service = await client.CoreV1.ReadNamespacedServiceAsync("web", "applier-test");
        Assert.StartsWith("10.96.", service.Spec.ClusterIP, StringComparison.Ordinal);
        // An object nobody applied with this manager is never pruned.
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "foreign" } }, "applier-test");

        var again = await applier.ApplyAsync([new YamlSource("first.yaml", first)], CancellationToken.None);
        Assert.True(again.Succeeded, string.Join("\n", again.Failures));
        var pruned = await applier.PruneAsync(CancellationToken.None);

        Assert.All(pruned, p => Assert.True(p.Deleted, p.Error));
        Assert.Equal(["ConfigMap applier-test/drop", "Service applier-test/web"], pruned.Select(p => $"{p.Target.Kind} {p.Target.Namespace}/{p.Target.Name}").Order(StringComparer.Ordinal));
        var left = await client.CoreV1.ListNamespacedConfigMapAsync("applier-test");
        Assert.Contains(left.Items, c => c.Metadata.Name == "keep");
        Assert.Contains(left.Items, c => c.Metadata.Name == "foreign");
        Assert.DoesNotContain(left.Items, c => c.Metadata.Name == "drop");
    }

    [Fact]
    public async Task The_applier_resolves_a_kind_from_a_CRD_applied_in_the_same_run()
    {
        using var http = box.Connection.CreateAdminHttpClient();
        var applier = new BoxApplier(http, "box-tests-crd");
        const string yaml = """
            apiVersion: example.com/v1
            kind: Widget
            metadata: {name: w1, namespace: default}
            spec: {size: 3}
            ---
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata: {name: widgets.example.com}
            spec:
              group: example.com
              scope: Namespaced
              names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
              versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      spec: {type: object, properties: {size: {type: integer}}}
            """;
        var report = await applier.ApplyYamlAsync(yaml, "widgets.yaml", CancellationToken.None);
        Assert.True(report.Succeeded, string.Join("\n", report.Failures));
        using var response = await http.GetAsync("/apis/example.com/v1/namespaces/default/widgets/w1");
        var widget = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(3, widget.GetProperty("spec").GetProperty("size").GetInt32());
    }

    [Fact]
    public async Task A_parallel_applier_applies_every_CRD_before_the_objects_of_their_kinds()
    {
        using var http = box.Connection.CreateAdminHttpClient();
        var applier = new BoxApplier(http, "box-tests-parallel") { Parallelism = 4 };
        var yaml = new StringBuilder();
        foreach (var kind in (string[])["Gadget", "Gizmo", "Doohickey"])
        {
            var plural = kind.ToLowerInvariant() + "s";
            // Objects first in the file: the applier still sends every CRD (side by side) before any of them.
            yaml.Append($$"""
                apiVersion: parallel.example.com/v1
                kind: {{kind}}
                metadata: {name: one, namespace: default}
                spec: {size: 1}
                ---
                apiVersion: parallel.example.com/v1
                kind: {{kind}}
                metadata: {name: two, namespace: default}
                spec: {size: 2}
                ---
                apiVersion: apiextensions.k8s.io/v1
                kind: CustomResourceDefinition
                metadata: {name: {{plural}}.parallel.example.com}
                spec:
                  group: parallel.example.com
                  scope: Namespaced
                  names: {plural: {{plural}}, singular: {{kind.ToLowerInvariant()}}, kind: {{kind}}, listKind: {{kind}}List}
                  versions:
                  - name: v1
                    served: true
                    storage: true
                    schema:
                      openAPIV3Schema:
                        type: object
                        properties:
                          spec:
                            type: object
                            properties:
                              size: {type: integer}
                ---

                """);
        }

        var report = await applier.ApplyYamlAsync(yaml.ToString(), "parallel.yaml", CancellationToken.None);

        Assert.True(report.Succeeded, string.Join("\n", report.Failures));
        Assert.Equal(9, report.Documents.Count);
        Assert.Equal(Enumerable.Range(0, 9), report.Documents.Select(d => d.DocumentIndex));
        foreach (var plural in (string[])["gadgets", "gizmos", "doohickeys"])
        {
            using var response = await http.GetAsync($"/apis/parallel.example.com/v1/namespaces/default/{plural}/two");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var item = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal(2, item.GetProperty("spec").GetProperty("size").GetInt32());
        }
    }

    [Fact]
    public async Task The_box_applied_every_CRD_itself_and_each_is_Established()
    {
        using var http = box.Connection.CreateAdminHttpClient();
        var list = await http.GetFromJsonAsync<JsonElement>("/apis/apiextensions.k8s.io/v1/customresourcedefinitions");
        var byBox = list.GetProperty("items").EnumerateArray()
            .Where(i => i.GetProperty("metadata").GetProperty("managedFields").EnumerateArray().Any(f => f.GetProperty("manager").GetString() == KubernetesBox.FieldManager))
            .Select(i => i.GetProperty("metadata").GetProperty("name").GetString()!)
            .ToHashSet(StringComparer.Ordinal);

        // Gateway API, Istio and our own: each file's CRDs, applied in process by the box's field manager.
        foreach (var name in (string[])["gateways.gateway.networking.k8s.io", "httproutes.gateway.networking.k8s.io", "authorizationpolicies.security.istio.io", "trafficpolicies.gateway.kgateway.dev"])
        {
            Assert.Contains(name, byBox);
        }

        Assert.True(byBox.Count >= 20, $"only {byBox.Count} CRDs carry the box's field manager");
        Assert.Empty(CrdEstablishment.NotEstablished(list, byBox));
        var log = await File.ReadAllTextAsync(Path.Combine(State.WorkDirectory, "log", "crds.log"));
        Assert.Contains("httproutes.gateway.networking.k8s.io", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Istiod_is_ready_and_creates_the_istio_waypoint_GatewayClass()
    {
        using var http = box.Connection.CreateAdminHttpClient();
        http.Timeout = Timeout.InfiniteTimeSpan;
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        // A watch reports the GatewayClass as soon as istiod has made it (ADDED at once if it already exists).
        using var response = await http.GetAsync(
            "/apis/gateway.networking.k8s.io/v1/gatewayclasses?watch=true&fieldSelector=metadata.name%3Distio-waypoint",
            HttpCompletionOption.ResponseHeadersRead, limit.Token);
        response.EnsureSuccessStatusCode();
        using var events = new StreamReader(await response.Content.ReadAsStreamAsync(limit.Token));
        var line = await events.ReadLineAsync(limit.Token);
        Assert.NotNull(line);
        using var added = JsonDocument.Parse(line);
        Assert.Equal("ADDED", added.RootElement.GetProperty("type").GetString());
        Assert.Equal("istio.io/mesh-controller", added.RootElement.GetProperty("object").GetProperty("spec").GetProperty("controllerName").GetString());

        using var plain = box.Connection.Network.CreateHttpClient();
        using var ready = await plain.GetAsync(new Uri($"http://127.0.0.1:{BoxPorts.IstiodHttp}/ready"));
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
    }

    private async Task<(int Code, string Output)> KubectlAsync(params string[] arguments)
    {
        var startInfo = new ProcessStartInfo("nsenter") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in (string[])[$"--net={State.NetworkNamespacePath}", "--", KubernetesAssets.Locate().Kubectl, "--kubeconfig", State.AdminKubeconfigPath, .. arguments])
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, stdout + await stderr);
    }

    /// <summary>
    /// Retries a condition the API server reaches asynchronously with no event to wait for (the RBAC authorizer sees a
    /// new binding through its informer). Bounded; not a timing assertion.
    /// </summary>
    private static async Task<bool> Eventually(Func<Task<bool>> condition)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            if (await condition())
            {
                return true;
            }

            await Task.Delay(100);
        }

        return false;
    }
}
