namespace Waypoint.Box.Product;

/// <summary>The product did not install: a manifest was refused, or the controller did not become Available (the message says why, naming pods, containers and their last log lines).</summary>
public sealed class ProductInstallException : Exception
{
    public ProductInstallException()
    {
    }

    public ProductInstallException(string message)
        : base(message)
    {
    }

    public ProductInstallException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
