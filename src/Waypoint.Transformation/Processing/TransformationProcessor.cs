using System.Text;
using System.Text.Json;
using Envoy.Config.Core.V3;
using Envoy.Service.ExtProc.V3;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Waypoint.Transformation.Compilation;
using Waypoint.Transformation.Templates;
using EnvoyStatusCode = Envoy.Type.V3.StatusCode;

namespace Waypoint.Transformation.Processing;

/// <summary>
/// Envoy <c>ExternalProcessor</c> that runs TrafficPolicy transformations needing bodies or the template engine.
/// One stream per HTTP exchange; the route's transformation arrives in the stream's initial metadata.
/// Every template of a direction is rendered against the original message, then all mutations are sent at once.
/// </summary>
internal sealed class TransformationProcessor(
    TransformationProgramCache cache,
    TransformationMetrics metrics,
    ILogger<TransformationProcessor> logger) : ExternalProcessor.ExternalProcessorBase
{
    private static readonly TimeProvider s_clock = TimeProvider.System;

    public override async Task Process(IAsyncStreamReader<ProcessingRequest> requestStream, IServerStreamWriter<ProcessingResponse> responseStream, ServerCallContext context)
    {
        var http = context.GetHttpContext();
        if (http.Connection.LocalIpAddress is not null)
        {
            // Only Envoy in the same pod, over the pod-private socket, may drive transformations.
            TransformationLog.RejectedConnection(logger, http.Connection.LocalIpAddress.ToString());
            throw new RpcException(new Status(StatusCode.PermissionDenied, "the transformation service is only served on its Unix socket"));
        }

        metrics.StreamStarted();
        var encoded = context.RequestHeaders.GetValue(TransformationExtProc.TransformationMetadataKey);
        var entry = encoded is null ? new CacheEntry(null, $"no '{TransformationExtProc.TransformationMetadataKey}' metadata") : cache.Get(encoded);
        var exchange = new Exchange(entry.Transformation);
        if (entry.Transformation is null)
        {
            TransformationLog.MissingTransformation(logger, entry.Error ?? "unknown");
        }

        await foreach (var message in requestStream.ReadAllAsync(context.CancellationToken).ConfigureAwait(false))
        {
            ProcessingResponse response;
            if (entry.Transformation is null)
            {
                metrics.Failed("request", "MissingTransformation");
                response = Immediate(EnvoyStatusCode.InternalServerError, "transformation unavailable");
            }
            else
            {
                response = Handle(exchange, message);
            }

            await responseStream.WriteAsync(response, context.CancellationToken).ConfigureAwait(false);
            if (response.ResponseCase == ProcessingResponse.ResponseOneofCase.ImmediateResponse)
            {
                return;
            }
        }
    }

    private ProcessingResponse Handle(Exchange exchange, ProcessingRequest message)
    {
        var transformation = exchange.Transformation;
        switch (message.RequestCase)
        {
            case ProcessingRequest.RequestOneofCase.RequestHeaders:
                Collect(message.RequestHeaders.Headers, exchange.RequestHeaders);
                if (transformation.Request is not { } request || (request.NeedsBody && !message.RequestHeaders.EndOfStream))
                {
                    return new ProcessingResponse { RequestHeaders = new HeadersResponse() };
                }

                return Run(exchange, request, isResponse: false, ReadOnlyMemory<byte>.Empty, fromHeaders: true);
            case ProcessingRequest.RequestOneofCase.RequestBody:
                return transformation.Request is { } requestWithBody
                    ? Run(exchange, requestWithBody, isResponse: false, message.RequestBody.Body.Memory, fromHeaders: false)
                    : new ProcessingResponse { RequestBody = new BodyResponse() };
            case ProcessingRequest.RequestOneofCase.ResponseHeaders:
                Collect(message.ResponseHeaders.Headers, exchange.ResponseHeaders);
                if (transformation.Response is not { } response || (response.NeedsBody && !message.ResponseHeaders.EndOfStream))
                {
                    return new ProcessingResponse { ResponseHeaders = new HeadersResponse() };
                }

                return Run(exchange, response, isResponse: true, ReadOnlyMemory<byte>.Empty, fromHeaders: true);
            case ProcessingRequest.RequestOneofCase.ResponseBody:
                return transformation.Response is { } responseWithBody
                    ? Run(exchange, responseWithBody, isResponse: true, message.ResponseBody.Body.Memory, fromHeaders: false)
                    : new ProcessingResponse { ResponseBody = new BodyResponse() };
            case ProcessingRequest.RequestOneofCase.RequestTrailers:
                return new ProcessingResponse { RequestTrailers = new TrailersResponse() };
            case ProcessingRequest.RequestOneofCase.ResponseTrailers:
                return new ProcessingResponse { ResponseTrailers = new TrailersResponse() };
            default:
                return Immediate(EnvoyStatusCode.InternalServerError, "unexpected ext_proc message");
        }
    }

    private ProcessingResponse Run(Exchange exchange, TransformProgram program, bool isResponse, ReadOnlyMemory<byte> body, bool fromHeaders)
    {
        var direction = isResponse ? "response" : "request";
        var started = s_clock.GetTimestamp();
        CommonResponse common;
        try
        {
            common = Apply(exchange, program, isResponse, body, fromHeaders);
        }
        catch (Exception ex) when (ex is TemplateEvaluationException or JsonException)
        {
            var status = isResponse ? EnvoyStatusCode.InternalServerError : EnvoyStatusCode.BadRequest;
            var reason = ex is JsonException ? $"the {direction} body is not valid JSON" : ex.Message;
            metrics.Failed(direction, ex.GetType().Name);
            TransformationLog.TransformationFailed(logger, direction, (int)status, reason);
            return Immediate(status, $"{direction} transformation failed: {reason}");
        }
        finally
        {
            metrics.Rendered(direction, s_clock.GetElapsedTime(started));
        }

        var result = new ProcessingResponse();
        switch ((isResponse, fromHeaders))
        {
            case (false, true):
                result.RequestHeaders = new HeadersResponse { Response = common };
                break;
            case (false, false):
                result.RequestBody = new BodyResponse { Response = common };
                break;
            case (true, true):
                result.ResponseHeaders = new HeadersResponse { Response = common };
                break;
            default:
                result.ResponseBody = new BodyResponse { Response = common };
                break;
        }

        return result;
    }

    private static CommonResponse Apply(Exchange exchange, TransformProgram program, bool isResponse, ReadOnlyMemory<byte> body, bool fromHeaders)
    {
        var headers = isResponse ? exchange.ResponseHeaders : exchange.RequestHeaders;
        JsonElement? json = null;
        JsonDocument? document = null;
        try
        {
            if (program.ParseAsJson && !body.IsEmpty)
            {
                document = JsonDocument.Parse(body);
                json = document.RootElement;
            }

            var scope = new TemplateScope { Headers = headers, RequestHeaders = exchange.RequestHeaders, Body = body, Json = json };

            // Render everything against the original message before changing anything (Inja semantics).
            var sets = Render(program.Set, scope);
            var adds = Render(program.Add, scope);
            var newBody = program.Body?.Render(scope);

            var mutation = new HeaderMutation();
            foreach (var name in program.Remove)
            {
                mutation.RemoveHeaders.Add(name);
                headers.Remove(name);
            }

            foreach (var (name, value) in sets)
            {
                mutation.SetHeaders.Add(Header(name, value, HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd));
                headers[name] = value;
            }

            foreach (var (name, value) in adds)
            {
                mutation.SetHeaders.Add(Header(name, value, HeaderValueOption.Types.HeaderAppendAction.AppendIfExistsOrAdd));
                headers[name] = headers.TryGetValue(name, out var existing) ? existing + "," + value : value;
            }

            var common = new CommonResponse { HeaderMutation = mutation };
            if (newBody is not null)
            {
                var bytes = Encoding.UTF8.GetBytes(newBody);
                common.BodyMutation = new BodyMutation { Body = ByteString.CopyFrom(bytes) };
                mutation.SetHeaders.Add(Header("content-length", bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd));
                if (fromHeaders)
                {
                    // A message without a body: only CONTINUE_AND_REPLACE may attach one.
                    common.Status = CommonResponse.Types.ResponseStatus.ContinueAndReplace;
                }
            }

            return common;
        }
        finally
        {
            document?.Dispose();
        }
    }

    private static List<(string Name, string Value)> Render(IReadOnlyList<HeaderTemplate> headers, TemplateScope scope)
    {
        var result = new List<(string, string)>(headers.Count);
        foreach (var header in headers)
        {
            var value = header.Value.Render(scope);
            if (value.AsSpan().IndexOfAny('\r', '\n', '\0') >= 0)
            {
                throw new TemplateEvaluationException($"the value rendered for header '{header.Name}' contains CR, LF or NUL");
            }

            result.Add((header.Name, value));
        }

        return result;
    }

    private static HeaderValueOption Header(string name, string value, HeaderValueOption.Types.HeaderAppendAction action) => new()
    {
        Header = new HeaderValue { Key = name, RawValue = ByteString.CopyFromUtf8(value) },
        AppendAction = action,
    };

    private static void Collect(HeaderMap? map, Dictionary<string, string> into)
    {
        if (map is null)
        {
            return;
        }

        foreach (var header in map.Headers)
        {
            var value = header.RawValue.IsEmpty ? header.Value : header.RawValue.ToStringUtf8();
            into[header.Key] = into.TryGetValue(header.Key, out var existing) ? existing + "," + value : value;
        }
    }

    private static ProcessingResponse Immediate(EnvoyStatusCode status, string details) => new()
    {
        ImmediateResponse = new ImmediateResponse
        {
            Status = new Envoy.Type.V3.HttpStatus { Code = status },
            Body = ByteString.CopyFromUtf8(details + "\n"),
            Details = "waypoint_transformation_failed",
            Headers = new HeaderMutation
            {
                SetHeaders = { Header("content-type", "text/plain", HeaderValueOption.Types.HeaderAppendAction.OverwriteIfExistsOrAdd) },
            },
        },
    };

    private sealed class Exchange(CompiledTransformation? transformation)
    {
        public CompiledTransformation Transformation { get; } = transformation ?? new CompiledTransformation();

        public Dictionary<string, string> RequestHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);

        public Dictionary<string, string> ResponseHeaders { get; } = new(StringComparer.OrdinalIgnoreCase);
    }
}
