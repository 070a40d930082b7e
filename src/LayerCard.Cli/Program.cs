using TorchSharp;
var t = torch.ones(2, 2);
Console.WriteLine((t.matmul(t)).sum().item<float>());
