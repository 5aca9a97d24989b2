namespace Waypoint.Controller.Tests.Infrastructure;

/// <summary>JSON of the objects the tests create (placeholders <c>$name</c> keep JSON braces readable).</summary>
internal static class Objects
{
    /// <summary>An ambient namespace served by waypoint apps/waypoint, with one Service (a VIP, one ready endpoint).</summary>
    public static string OneServiceMesh => string.Join(
        "\n---\n",
        Namespace("apps", """{"istio.io/use-waypoint":"waypoint","istio.io/dataplane-mode":"ambient"}"""),
        GatewayClass(),
        Gateway("waypoint"),
        Service("echo", clusterIp: "10.96.0.10"),
        EndpointSlice("echo"));

    public const string MeshListener = """[{"name":"mesh","port":15008,"protocol":"HBONE"}]""";

    public static string GatewayClass(string name = "kgateway-waypoint", string controller = ControllerHarness.ControllerName, string? parametersRef = null) => T(
        """{"apiVersion":"gateway.networking.k8s.io/v1","kind":"GatewayClass","metadata":{"name":"$name"},"spec":{"controllerName":"$controller"$params}}""",
        ("$name", name), ("$controller", controller), ("$params", parametersRef is null ? "" : ",\"parametersRef\":" + parametersRef));

    public static string Gateway(string name, string ns = "apps", string className = "kgateway-waypoint", string listeners = MeshListener, string extraSpec = "") => T(
        """{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"name":"$name","namespace":"$ns"},"spec":{"gatewayClassName":"$class","listeners":$listeners$extra}}""",
        ("$name", name), ("$ns", ns), ("$class", className), ("$listeners", listeners), ("$extra", extraSpec));

    public static string Namespace(string name, string labels = "{}") => T(
        """{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"$name","labels":$labels}}""",
        ("$name", name), ("$labels", labels));

    public static string Service(string name, string ns = "apps", string labels = "{}", int port = 8080, string? clusterIp = null) => T(
        """{"apiVersion":"v1","kind":"Service","metadata":{"name":"$name","namespace":"$ns","labels":$labels},"spec":{$vip"selector":{"app":"$name"},"ports":[{"name":"http","port":$port,"targetPort":$port,"protocol":"TCP"}]}}""",
        ("$name", name), ("$ns", ns), ("$labels", labels), ("$port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ("$vip", clusterIp is null ? "" : $"\"clusterIP\":\"{clusterIp}\","));

    public static string EndpointSlice(string service, string ns = "apps", string ip = "10.244.0.10", int port = 8080, string? name = null) => T(
        """{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"$name","namespace":"$ns","labels":{"kubernetes.io/service-name":"$service"}},"addressType":"IPv4","endpoints":[{"addresses":["$ip"],"conditions":{"ready":true}}],"ports":[{"name":"http","port":$port,"protocol":"TCP"}]}""",
        ("$name", name ?? service + "-abc"), ("$ns", ns), ("$service", service), ("$ip", ip), ("$port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    public static string HttpRoute(string name, string parent, string backend, string ns = "apps", string parentKind = "Service", string parentGroup = "") => T(
        """{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"$name","namespace":"$ns"},"spec":{"parentRefs":[{"group":"$group","kind":"$kind","name":"$parent"}],"rules":[{"backendRefs":[{"name":"$backend","port":8080}]}]}}""",
        ("$name", name), ("$ns", ns), ("$group", parentGroup), ("$kind", parentKind), ("$parent", parent), ("$backend", backend));

    public static string WaypointPod(string gateway, string ns = "apps", string suffix = "abc") => T(
        """{"apiVersion":"v1","kind":"Pod","metadata":{"name":"$gateway-$suffix","namespace":"$ns","labels":{"gateway.networking.k8s.io/gateway-name":"$gateway"}},"spec":{"containers":[{"name":"envoy","image":"envoy"}]}}""",
        ("$gateway", gateway), ("$ns", ns), ("$suffix", suffix));

    public static string PodReadyStatus(bool ready) => T(
        """{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"$ready"}]}}""", ("$ready", ready ? "True" : "False"));

    private static string T(string template, params (string Key, string Value)[] values)
    {
        // Longest keys first so "$name" never eats the start of a longer placeholder.
        foreach (var (key, value) in values.OrderByDescending(v => v.Key.Length))
        {
            template = template.Replace(key, value, StringComparison.Ordinal);
        }

        return template;
    }
}
