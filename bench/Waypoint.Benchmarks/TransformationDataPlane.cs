using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Waypoint.TestKit.Envoy;
using Waypoint.TestKit.Transformation;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Model;

namespace Waypoint.Benchmarks;

/// <summary>
/// Data-plane cost of transformations through a real Envoy, in one run: no transformation, a native header
/// transformation (route header rules), and a JSON body transformation through the ext_proc service on a Unix socket.
/// Closed-loop load: N concurrent workers, each sending the next request when the previous one answers.
/// Usage: <c>dotnet run -c Release --project bench/Waypoint.Benchmarks -- transformation-dataplane [seconds] [concurrency] [rounds]</c>.
/// </summary>
internal static class TransformationDataPlane
{
    private const string JsonBody = """{"user": {"id": 42, "name": "Ada", "roles": ["admin", "dev"]}, "note": "a small JSON request body"}""";

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10;
        var concurrency = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 16;

        var native = Compile("native", new TransformationPolicy
        {
            Request = new TransformSpec { Set = [new HeaderTransformation { Name = "x-copied", Value = "copy of {{ header(\"x-source\") }}" }] },
            Response = new TransformSpec { Set = [new HeaderTransformation { Name = "x-policy", Value = "native" }] },
        });
        var body = Compile("body", new TransformationPolicy
        {
            Request = new TransformSpec
            {
                Set = [new HeaderTransformation { Name = "x-user-id", Value = "{{ user.id }}" }],
                Body = new BodyTransformation { ParseAs = BodyParseBehavior.AsJson, Value = "{\"id\": {{ user.id }}, \"name\": \"{{ user.name }}\", \"role\": \"{{ user.roles.0 }}\"}" },
            },
        });

        await using var rig = await TransformationRig.StartAsync(
            [("/none/", RouteTrafficPolicy.None), ("/native/", RouteTrafficPolicy.Resolve(null, [native])), ("/body/", RouteTrafficPolicy.Resolve(null, [body]))],
            new EnvoyStartOptions { LogLevel = "error", Concurrency = 2 });

        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        Console.WriteLine($"Envoy {EnvoyBinary.Locate()}; {Environment.ProcessorCount} cores; {concurrency} concurrent clients; {rounds} interleaved rounds of {seconds}s per scenario (+1s warm-up each); median round by req/s; HTTP/1.1 POST with a {JsonBody.Length}-byte JSON body.");
        var scenarios = new[] { ("no transformation", "none/"), ("native header transformation", "native/"), ("JSON body transformation via ext_proc", "body/") };
        var results = scenarios.Select(_ => new List<LoadRound>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < scenarios.Length; i++)
            {
                var path = scenarios[(i + round) % scenarios.Length].Item2;
                await LoadAsync(rig.Client, path, concurrency, TimeSpan.FromSeconds(1));
                results[(i + round) % scenarios.Length].Add(await LoadAsync(rig.Client, path, concurrency, TimeSpan.FromSeconds(seconds)));
            }
        }

        Console.WriteLine("| scenario | req/s | p50 ms | p99 ms | errors |");
        Console.WriteLine("|---|---:|---:|---:|---:|");
        for (var i = 0; i < scenarios.Length; i++)
        {
            var result = results[i].OrderBy(r => r.Count / r.Elapsed.TotalSeconds).ElementAt(results[i].Count / 2);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {scenarios[i].Item1} | {result.Count / result.Elapsed.TotalSeconds:F0} | {result.Percentile(0.50):F2} | {result.Percentile(0.99):F2} | {results[i].Sum(r => r.Errors)} |"));
        }

        return 0;
    }

    private static CompiledTrafficPolicy Compile(string name, TransformationPolicy transformation)
    {
        var result = TrafficPolicyCompiler.Compile(new V1alpha1TrafficPolicy
        {
            Metadata = new k8s.Models.V1ObjectMeta { Name = name, NamespaceProperty = "bench" },
            Spec = new V1alpha1TrafficPolicySpec { Transformation = transformation },
        });
        return result.Policy ?? throw new InvalidOperationException(result.ErrorMessage);
    }

    private static Task<LoadRound> LoadAsync(HttpClient client, string path, int concurrency, TimeSpan duration) =>
        DataPlaneLoad.SendAsync(
            Enumerable.Repeat(client, concurrency).ToArray(),
            () =>
            {
                var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(JsonBody, Encoding.UTF8, "application/json") };
                request.Headers.Add("x-source", "bench");
                return request;
            },
            elapsed => elapsed < duration,
            100_000);
}
