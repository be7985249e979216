"""WeCom (企业微信) and WeChat Customer Service (微信客服, kf): API client, senders, simulator."""
