using Grpc.Core;
using Waypoint.Node.Cri.V1;
using Waypoint.Node.Images;
using Waypoint.Node.Runtime;

namespace Waypoint.Node.Cri;

/// <summary><c>runtime.v1.ImageService</c>: mapped images are present, anything else cannot be pulled.</summary>
internal sealed class CriImageService(ProcessRuntime runtime, CriServerOptions options, TimeProvider time) : ImageService.ImageServiceBase
{
    public override Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context)
    {
        var response = new ListImagesResponse();
        var wanted = request.Filter?.Image?.Image;
        foreach (var image in runtime.Images.List())
        {
            if (string.IsNullOrEmpty(wanted) || image.Id == wanted || image.Reference == ImageMap.Normalize(wanted))
            {
                response.Images.Add(ImageStore.ToCri(image));
            }
        }

        return Task.FromResult(response);
    }

    public override Task<ImageStatusResponse> ImageStatus(ImageStatusRequest request, ServerCallContext context)
    {
        // An unknown image is "not present" (no image in the answer); the kubelet then pulls, and that fails.
        var image = runtime.Images.Find(request.Image?.Image ?? string.Empty);
        return Task.FromResult(image is null ? new ImageStatusResponse() : new ImageStatusResponse { Image = ImageStore.ToCri(image) });
    }

    public override Task<PullImageResponse> PullImage(PullImageRequest request, ServerCallContext context)
    {
        try
        {
            return Task.FromResult(new PullImageResponse { ImageRef = runtime.Images.Pull(request.Image?.Image ?? string.Empty).Id });
        }
        catch (UnknownImageException ex)
        {
            throw new RpcException(new Status(StatusCode.NotFound, ex.Message));
        }
    }

    public override Task<RemoveImageResponse> RemoveImage(RemoveImageRequest request, ServerCallContext context)
    {
        runtime.Images.Remove(request.Image?.Image ?? string.Empty);
        return Task.FromResult(new RemoveImageResponse());
    }

    public override Task<ImageFsInfoResponse> ImageFsInfo(ImageFsInfoRequest request, ServerCallContext context)
    {
        var usage = new FilesystemUsage
        {
            Timestamp = (time.GetUtcNow().UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100,
            FsId = new FilesystemIdentifier { Mountpoint = options.RootDirectory },
            UsedBytes = new UInt64Value { Value = 0 },
            InodesUsed = new UInt64Value { Value = 0 },
        };
        return Task.FromResult(new ImageFsInfoResponse { ImageFilesystems = { usage }, ContainerFilesystems = { usage } });
    }
}
