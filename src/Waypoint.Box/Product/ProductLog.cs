using Microsoft.Extensions.Logging;

namespace Waypoint.Box.Product;

internal static partial class ProductLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Applied {Count} objects from {Directory}")]
    public static partial void Applied(ILogger logger, int count, string directory);

    [LoggerMessage(Level = LogLevel.Information, Message = "Deployment {Namespace}/{Name} is Available ({Ready}/{Replicas} ready) after {Elapsed} ms")]
    public static partial void Available(ILogger logger, string @namespace, string name, int ready, int replicas, long elapsed);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Deployment {Namespace}/{Name} not Available yet: {Reason}")]
    public static partial void Waiting(ILogger logger, string @namespace, string name, string reason);
}
